/*
 * throttle.c — when no chunk may start (dbfork/exec.h, "Throttling",
 * "Replicas", "The control file"): the server's Threads_running (max_load,
 * critical_load), the replicas' lag (max_lag), and `pause` in the control
 * file. The job core asks op_next for a chunk whenever one may run; while
 * any reason holds, op_next answers "later" and the pause timer asks again
 * every 250 ms. Pauses are counted here, whatever their reason. The control
 * file's timer also sets the worker count.
 */
#include "execint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOAD_CHECK_EVERY 0.1 /* seconds between two reads of Threads_running */
#define LAG_CHECK_EVERY 0.5  /* ... of the replicas' lag */
#define RECONNECT_EVERY 2.0  /* ... of attempts to reach a lost replica */
#define PAUSE_RETRY_MS 250
#define CONTROL_EVERY_MS 1000
#define CONTROL_LINE_MAX 512

static void on_pause_timer(uv_timer_t *t) {
  dbfork_exec *x = t->data;
  x->pause_timer_on = 0;
  if (x->job) job_poke(x->job);
}

void exec_pause_close(dbfork_exec *x) {
  if (x->pause_timer_init) {
    uv_close((uv_handle_t *)&x->pause_timer, NULL);
    x->pause_timer_init = 0;
  }
  if (x->ctl_timer_init) {
    uv_close((uv_handle_t *)&x->ctl_timer, NULL);
    x->ctl_timer_init = 0;
  }
  if (x->ahead_timer_init) {
    uv_close((uv_handle_t *)&x->ahead_timer, NULL);
    x->ahead_timer_init = x->ahead_timer_on = 0;
  }
  if (x->hosts.timer_on) {
    uv_close((uv_handle_t *)&x->hosts.timer, NULL);
    x->hosts.timer_on = 0;
  }
}

/* SHOW GLOBAL STATUS, which MySQL and MariaDB both have (the status
 * tables are in different schemas). 0, or DBFORK_ESQL with x->err. */
static int threads_running(dbfork_exec *x, uint64_t *out) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (mysql_query(x->m, "SHOW GLOBAL STATUS LIKE 'Threads_running'") ||
      !(r = mysql_store_result(x->m)))
    return exec_set_err(x, DBFORK_ESQL, "reading Threads_running: %s (MySQL error %u)",
                        mysql_error(x->m), mysql_errno(x->m));
  row = mysql_fetch_row(r);
  *out = row && row[1] ? strtoull(row[1], NULL, 10) : 0;
  mysql_free_result(r);
  return 0;
}

/* 1 above max_load, 0 not, < 0 to stop the job (critical_load). */
static int load_over(dbfork_exec *x, job *j, double now) {
  uint64_t running = 0;
  if (now - x->last_load_check >= LOAD_CHECK_EVERY || !x->last_load_check) {
    x->last_load_check = now;
    if (threads_running(x, &running)) return job_fail(j, DBFORK_ESQL, "%s", x->err);
    x->st.threads_running = running;
  }
  running = x->st.threads_running;
  if (x->eo.critical_load && running > x->eo.critical_load) {
    exec_set_err(x, DBFORK_EBUSY,
                 "Threads_running is %llu, above --critical-load=%u: stopped; rerun the same "
                 "command to resume",
                 (unsigned long long)running, x->eo.critical_load);
    return job_fail(j, DBFORK_EBUSY, "%s", x->err);
  }
  return x->eo.max_load && running > x->eo.max_load;
}

/* One line when a replica's state changes: 0 within max_lag, 1 above,
 * 2 replication stopped, 3 lost. */
static void replica_state(dbfork_exec *x, exec_replica *r, int state, const char *err) {
  if (state == r->state) return;
  switch (state) {
    case 0:
      exec_log(x, DBFORK_LOG_WARN, "replica %s: lag %.0f s, within --max-lag=%g: going on",
               r->d.shown, r->lag, x->eo.max_lag);
      break;
    case 1:
      exec_log(x, DBFORK_LOG_WARN,
               "replica %s: lag %.0f s is above --max-lag=%g: paused (chunks running finish)",
               r->d.shown, r->lag, x->eo.max_lag);
      break;
    case 2:
      exec_log(x, DBFORK_LOG_WARN,
               "replica %s: replication is stopped (Seconds_Behind_Master is NULL%s%s): paused "
               "until it runs",
               r->d.shown, err && err[0] ? "; " : "", err ? err : "");
      break;
    default:
      exec_log(x, DBFORK_LOG_WARN, "replica %s: %s: paused; reconnecting every %.0f s", r->d.shown,
               err && err[0] ? err : "lost", RECONNECT_EVERY);
      break;
  }
  r->state = state;
}

/* 1 while some replica lags (above max_lag, stopped or lost). */
static int lag_over(dbfork_exec *x, double now) {
  size_t i;
  int over = 0;
  double worst = 0;
  if (x->last_lag_check && now - x->last_lag_check < LAG_CHECK_EVERY)
    return (x->pause_why & DBFORK_EXEC_PAUSED_LAG) != 0;
  x->last_lag_check = now;
  for (i = 0; i < x->nreps; i++) {
    exec_replica *r = &x->reps[i];
    char err[600] = "";
    int state;
    if (!r->m && now - r->last_connect >= RECONNECT_EVERY) {
      if (!exec_replica_connect(x, r, err, sizeof err)) err[0] = '\0';
    }
    if (r->m) exec_replica_read(r, err, sizeof err);
    if (!r->m || r->lag == EXEC_LAG_LOST)
      state = 3;
    else if (r->lag == EXEC_LAG_STOPPED)
      state = 2;
    else
      state = r->lag > x->eo.max_lag ? 1 : 0;
    if (!r->m && !err[0]) snprintf(err, sizeof err, "lost (reconnecting)");
    replica_state(x, r, state, err);
    if (state) over = 1;
    if (r->lag < 0)
      worst = -1;
    else if (worst >= 0 && r->lag > worst)
      worst = r->lag;
  }
  x->st.replica_lag = worst;
  return over;
}

/* Pause accounting: a pause begins when the first reason appears and
 * ends when the last one goes. */
static void set_paused(dbfork_exec *x, int why, double now) {
  if (why && !x->pause_t0) {
    x->pause_t0 = now;
    x->st.pauses++;
  } else if (!why && x->pause_t0) {
    x->st.paused_seconds += now - x->pause_t0;
    x->pause_t0 = 0;
  }
  if ((why & DBFORK_EXEC_PAUSED_LAG) && !x->lag_t0) {
    x->lag_t0 = now;
    x->st.lag_pauses++;
  } else if (!(why & DBFORK_EXEC_PAUSED_LAG) && x->lag_t0) {
    x->st.lag_paused_seconds += now - x->lag_t0;
    x->lag_t0 = 0;
  }
  x->pause_why = why;
  x->st.paused = why;
}

int exec_throttled(dbfork_exec *x, job *j) {
  double now = exec_now();
  int why = 0, rc;
  if (x->eo.max_load || x->eo.critical_load) {
    if ((rc = load_over(x, j, now)) < 0) return rc;
    if (rc) why |= DBFORK_EXEC_PAUSED_LOAD;
  }
  if (x->nreps && lag_over(x, now)) why |= DBFORK_EXEC_PAUSED_LAG;
  if (x->ctl_paused) why |= DBFORK_EXEC_PAUSED_CONTROL;
  set_paused(x, why, now);
  if (why && !x->pause_timer_on) {
    if (!x->pause_timer_init) {
      uv_timer_init(dbfork_pool_loop(x->pool), &x->pause_timer);
      x->pause_timer.data = x;
      x->pause_timer_init = 1;
    }
    uv_timer_start(&x->pause_timer, on_pause_timer, PAUSE_RETRY_MS, 0);
    x->pause_timer_on = 1;
  }
  return why != 0;
}

void exec_throttle_stats(const dbfork_exec *x, dbfork_exec_stats *st) {
  double now = exec_now();
  if (x->pause_t0) st->paused_seconds += now - x->pause_t0;
  if (x->lag_t0) st->lag_paused_seconds += now - x->lag_t0;
}

void exec_throttle_end(dbfork_exec *x) {
  set_paused(x, 0, exec_now());
  if (x->pause_timer_on) {
    uv_timer_stop(&x->pause_timer);
    x->pause_timer_on = 0;
  }
  exec_pause_close(x); /* now, while the loop runs: the close completes before the free */
}

/* ---------------------------------------------------------------------------
 * The control file.
 * ------------------------------------------------------------------------- */

static char *trim(char *s) {
  char *e;
  while (*s == ' ' || *s == '\t') s++;
  e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = '\0';
  return s;
}

/* Reads the file if it changed and applies it; bad lines are logged and
 * ignored. */
static void control_read(dbfork_exec *x) {
  const char *path = x->eo.control_file;
  struct stat sb;
  FILE *f;
  char buf[CONTROL_LINE_MAX];
  int lineno = 0, want_workers = 0, want_pause = -1;
  long long mtime_ns;
  if (stat(path, &sb)) {
    int err = errno;
    if (err != ENOENT && !x->ctl_seen)
      exec_log(x, DBFORK_LOG_WARN, "control file %s: %s", path, strerror(err));
    x->ctl_seen = err != ENOENT; /* a missing file read again once it appears */
    x->ctl_ino = 0;
    return;
  }
  mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
  if (x->ctl_seen && x->ctl_ino == (unsigned long long)sb.st_ino &&
      x->ctl_size == (unsigned long long)sb.st_size && x->ctl_mtime_ns == mtime_ns)
    return;
  x->ctl_seen = 1;
  x->ctl_ino = (unsigned long long)sb.st_ino;
  x->ctl_size = (unsigned long long)sb.st_size;
  x->ctl_mtime_ns = mtime_ns;
  if (!(f = fopen(path, "r"))) {
    exec_log(x, DBFORK_LOG_WARN, "control file %s: %s", path, strerror(errno));
    return;
  }
  while (fgets(buf, sizeof buf, f)) {
    char *s, *hash;
    size_t len = strlen(buf);
    lineno++;
    if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
      int c;
      while ((c = fgetc(f)) != EOF && c != '\n') {
      }
      exec_log(x, DBFORK_LOG_WARN, "%s:%d: line longer than %d bytes: ignored", path, lineno,
               CONTROL_LINE_MAX - 2);
      continue;
    }
    if ((hash = strchr(buf, '#')) != NULL) *hash = '\0';
    s = trim(buf);
    if (!*s) continue;
    if (!strncmp(s, "workers", 7) && strchr(s, '=')) {
      char *v = trim(strchr(s, '=') + 1), *end, *k = s + 7;
      long n;
      while (*k == ' ' || *k == '\t') k++;
      errno = 0;
      n = strtol(v, &end, 10);
      if (*k != '=' || end == v || *end || errno || n < 1 || n > x->eo.max_workers) {
        exec_log(x, DBFORK_LOG_WARN,
                 "%s:%d: '%.60s': workers must be a whole number within 1 .. %d "
                 "(--max-workers): ignored",
                 path, lineno, s, x->eo.max_workers);
        continue;
      }
      want_workers = (int)n;
    } else if (!strcmp(s, "pause")) {
      want_pause = 1;
    } else if (!strcmp(s, "resume")) {
      want_pause = 0;
    } else {
      exec_log(x, DBFORK_LOG_WARN, "%s:%d: '%.60s' is not workers=N, pause or resume: ignored",
               path, lineno, s);
    }
  }
  fclose(f);
  if (want_workers && want_workers != x->st.workers_active) {
    int was = x->st.workers_active;
    dbfork_exec_set_workers(x, want_workers);
    exec_log(x, DBFORK_LOG_WARN, "control file %s: %d chunk%s at once now (was %d)", path,
             want_workers, want_workers == 1 ? "" : "s", was);
  }
  if (want_pause >= 0 && want_pause != x->ctl_paused) {
    x->ctl_paused = want_pause;
    exec_log(x, DBFORK_LOG_WARN, "control file %s: %s", path,
             want_pause ? "paused: no chunk starts until a line 'resume'" : "resumed");
    if (!want_pause && x->job) job_poke(x->job);
  }
}

static void on_ctl_timer(uv_timer_t *t) { control_read(t->data); }

void exec_control_start(dbfork_exec *x) {
  if (!x->eo.control_file || !x->pool || x->ctl_timer_init) return;
  uv_timer_init(dbfork_pool_loop(x->pool), &x->ctl_timer);
  x->ctl_timer.data = x;
  x->ctl_timer_init = 1;
  control_read(x); /* before the first chunk: workers= and pause apply from the start */
  uv_timer_start(&x->ctl_timer, on_ctl_timer, CONTROL_EVERY_MS, CONTROL_EVERY_MS);
}
