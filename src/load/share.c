/*
 * share.c — a load that several processes share (options job_name; the
 * header's "One job, many processes"). What differs from a job of one
 * process, all of it here:
 *
 *  - the job is its name: the first process inserts the job row, the
 *    others find it and are refused if their table, file size, chunk size
 *    or options differ (the row's job_key holds a hash of the options that
 *    decide the chunks and the rows); the chunks committed so far are
 *    checked against this file (load_verify_prior, as a resume does);
 *  - every process cuts the whole file; a chunk's plan row is stored by the
 *    first to cut it and compared by the others (load_share_plan);
 *  - a worker's claim skips a chunk another process holds or has committed
 *    (worker.c); such parts wait in l->later until this process's plan has
 *    ended, then the chunk's progress rows say what is left of them
 *    (load_share_tail), every half second while another process holds one;
 *  - the process's row, heartbeat and the KILL of silent processes are the
 *    job core's (src/job/hosts.c) on the table dbfork_load_process.
 */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESCAN_MS 500

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t fnv_str(uint64_t h, const char *s) {
  return fnv(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

/* The options that decide where the chunks are cut and which rows they
 * make: equal in every process of the job. */
static void fingerprint(const dbfork_load *l, char out[17]) {
  const load_conf *c = &l->c;
  uint64_t h = 0xcbf29ce484222325ull, v[9];
  h = fnv_str(h, c->table);
  h = fnv_str(h, c->load_sql);
  h = fnv_str(h, c->ins_head);
  h = fnv_str(h, c->ins_row);
  h = fnv_str(h, c->dup_sql);
  h = fnv_str(h, c->charset);
  v[0] = (uint64_t)c->method;
  v[1] = (uint64_t)c->dup;
  v[2] = (uint64_t)c->bad_values;
  v[3] = c->chunk_bytes;
  v[4] = c->skip_lines;
  v[5] = c->data_start;
  v[6] = c->max_errors;
  v[7] = (uint64_t)c->d.flags;
  v[8] = (uint64_t)c->enc;
  h = fnv(h, v, sizeof v);
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int sql_fail(dbfork_load *l, const char *what) {
  return load_set_err(l, DBFORK_ESQL, "shared job '%s': %s: %s (MySQL error %u)", l->lo.job_name,
                      what, mysql_error(l->m), mysql_errno(l->m));
}

int load_share_prepare(dbfork_load *l) {
  load_conf *c = &l->c;
  char sql[PATH_MAX * 2 + 2048], e1[PATH_MAX * 2 + 3], e2[620], key[17];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int rc;
  load_name_job_id(l->lo.job_name, c->t.job_id);
  snprintf(l->st.job_id, sizeof l->st.job_id, "%s", c->t.job_id);
  fingerprint(l, key);
  load_sql_string(l->m, e1, c->path, strlen(c->path));
  load_sql_string(l->m, e2, c->table, strlen(c->table));
  /* The first process's row stays; the others' inserts are ignored. */
  snprintf(sql, sizeof sql,
           "INSERT IGNORE INTO %s (job_id, job_key, generation, file, table_name, file_size, "
           "chunk_size) VALUES ('%s', '%s', 1, %s, %s, %llu, %llu)",
           c->jobs, c->t.job_id, key, e1, e2, (unsigned long long)l->st.file_bytes,
           (unsigned long long)c->chunk_bytes);
  if (mysql_query(l->m, sql)) return sql_fail(l, "recording the job");
  snprintf(
      sql, sizeof sql,
      "SELECT job_key, table_name, file_size, chunk_size, completed_at IS NOT NULL, "
      "IFNULL(DATE_FORMAT(completed_at, '%%Y-%%m-%%d %%H:%%i:%%s'), ''), IFNULL(file_hash, 0), "
      "IFNULL(rows_loaded, 0), rejected, file FROM %s WHERE job_id='%s'",
      c->jobs, c->t.job_id);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return sql_fail(l, "reading the job");
  if (!(row = mysql_fetch_row(r))) {
    mysql_free_result(r);
    return load_set_err(l, DBFORK_ESQL, "shared job '%s': its row in %s went away", l->lo.job_name,
                        c->jobs);
  }
  rc = 0;
  if (strcmp(row[1], c->table))
    rc = load_set_err(l, DBFORK_EINVAL,
                      "shared job '%s' loads into %s, this process into %s: use another --job "
                      "name for another table",
                      l->lo.job_name, row[1], c->table);
  else if (strtoull(row[2], NULL, 10) != l->st.file_bytes)
    rc = load_set_err(l, DBFORK_EINVAL,
                      "shared job '%s' loads a file of %s bytes (%s), but %s is %llu bytes: "
                      "every process of the job must load the same file",
                      l->lo.job_name, row[2], row[9] ? row[9] : "?", c->path,
                      (unsigned long long)l->st.file_bytes);
  else if (strtoull(row[3], NULL, 10) != c->chunk_bytes)
    rc = load_set_err(l, DBFORK_EINVAL,
                      "shared job '%s' cuts %s-byte chunks, this process %llu-byte ones: give "
                      "every process the same --chunk-size (or none)",
                      l->lo.job_name, row[3], (unsigned long long)c->chunk_bytes);
  else if (strcmp(row[0], key))
    rc = load_set_err(l, DBFORK_EINVAL,
                      "shared job '%s' was started with other options: --columns, --set, the "
                      "dialect (--fields-*, --lines-terminated-by, --strict), --skip-lines, "
                      "--method, --on-duplicate, --character-set, --bad-values and --max-errors "
                      "must be the same in every process of the job",
                      l->lo.job_name);
  if (!rc && row[4][0] == '1') {
    uint64_t want = strtoull(row[6], NULL, 10), h = 0;
    l->st.rows_before = strtoull(row[7], NULL, 10);
    l->st.rejected_before = strtoull(row[8], NULL, 10);
    snprintf(l->st.loaded_at, sizeof l->st.loaded_at, "%s", row[5]);
    mysql_free_result(r);
    if ((rc = load_file_hash(l, LOAD_HASH_CRC, &h))) return rc;
    if (h != want)
      return load_set_err(l, DBFORK_ECHANGED,
                          "shared job '%s' completed on %s (loaded at %s) with other bytes than "
                          "%s has now: use a new --job name to load new content",
                          l->lo.job_name, c->path, l->st.loaded_at, c->path);
    l->st.already_loaded = 1;
    return 0;
  }
  mysql_free_result(r);
  if (rc) return rc;
  return load_read_prior(l);
}

int load_share_plan(dbfork_load *l, const csv_chunk *ch) {
  const load_conf *c = &l->c;
  char sql[700];
  int tries;
  for (tries = 0; tries < 3; tries++) {
    MYSQL_RES *r;
    MYSQL_ROW row;
    /* A plain read first: the row of a chunk another process's worker has
     * claimed is locked, and an insert would wait for it. */
    snprintf(sql, sizeof sql,
             "SELECT byte_offset, byte_len, first_line, records FROM %s WHERE job_id='%s' AND "
             "chunk_no=%llu",
             c->t.plan, c->t.job_id, (unsigned long long)ch->index);
    if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
      return sql_fail(l, "reading the plan");
    if ((row = mysql_fetch_row(r)) != NULL) {
      int same = strtoull(row[0], NULL, 10) == ch->off && strtoull(row[1], NULL, 10) == ch->len &&
                 strtoull(row[2], NULL, 10) == ch->first_line &&
                 strtoull(row[3], NULL, 10) == ch->records;
      char was[200];
      snprintf(was, sizeof was, "bytes %s+%s from line %s, %s records", row[0], row[1], row[2],
               row[3]);
      mysql_free_result(r);
      if (same) return 0;
      return load_set_err(l, DBFORK_ECHANGED,
                          "shared job '%s': chunk %llu of %s is bytes %llu+%llu from line %llu, "
                          "%llu records, but the process that cut it first found %s: this "
                          "process's file differs from the job's",
                          l->lo.job_name, (unsigned long long)ch->index, c->path,
                          (unsigned long long)ch->off, (unsigned long long)ch->len,
                          (unsigned long long)ch->first_line, (unsigned long long)ch->records, was);
    }
    mysql_free_result(r);
    {
      char vals[128];
      snprintf(vals, sizeof vals, "%llu, %llu, %llu, %llu", (unsigned long long)ch->off,
               (unsigned long long)ch->len, (unsigned long long)ch->first_line,
               (unsigned long long)ch->records);
      if (!job_plan_put(l->m, &c->t, ch->index, "byte_offset, byte_len, first_line, records", vals,
                        NULL, l->err, sizeof l->err) &&
          mysql_affected_rows(l->m) == 1)
        return 0;
      /* another process stored it meanwhile (or holds it: lock wait): compare */
      if (mysql_errno(l->m) && mysql_errno(l->m) != 1205) return sql_fail(l, "storing the plan");
    }
  }
  return load_set_err(l, DBFORK_ESQL, "shared job '%s': the plan row of chunk %llu cannot be read",
                      l->lo.job_name, (unsigned long long)ch->index);
}

int load_share_later(dbfork_load *l, const load_part *p) {
  if (load_grow((void **)&l->later, &l->caplater, l->nlater + 1, sizeof *l->later))
    return load_set_err(l, DBFORK_ENOMEM, "out of memory");
  l->later[l->nlater++] = *p;
  return 0;
}

static void on_rescan(uv_timer_t *t) {
  dbfork_load *l = t->data;
  if (l->job) job_poke(l->job);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void arm(dbfork_load *l, double s) {
  if (!l->later_timer_on) {
    uv_timer_init(dbfork_pool_loop(l->pool), &l->later_timer);
    l->later_timer.data = l;
    l->later_timer_on = 1;
  }
  uv_timer_start(&l->later_timer, on_rescan, (uint64_t)(s * 1000) + 1, 0);
}

/* The committed parts of one chunk, by part. */
static int chunk_rows(dbfork_load *l, uint64_t chunk, load_done **rows, size_t *n, size_t *cap) {
  char sql[600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  *n = 0;
  snprintf(sql, sizeof sql,
           "SELECT part, byte_offset, byte_len, chunk_hash, records, rejected FROM %s WHERE "
           "job_id='%s' AND chunk_no=%llu ORDER BY part",
           l->c.t.progress, l->c.t.job_id, (unsigned long long)chunk);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return sql_fail(l, "reading the progress table");
  while ((row = mysql_fetch_row(r))) {
    load_done *d;
    if (load_grow((void **)rows, cap, *n + 1, sizeof **rows)) {
      mysql_free_result(r);
      return load_set_err(l, DBFORK_ENOMEM, "out of memory");
    }
    d = &(*rows)[(*n)++];
    d->chunk = chunk;
    d->part = strtoull(row[0], NULL, 10);
    d->off = strtoull(row[1], NULL, 10);
    d->len = strtoull(row[2], NULL, 10);
    d->hash = strtoull(row[3], NULL, 10);
    d->records = strtoull(row[4], NULL, 10);
    d->rejected = strtoull(row[5], NULL, 10);
  }
  mysql_free_result(r);
  return 0;
}

int load_share_tail(dbfork_load *l, job *j) {
  job_counts n;
  load_done *rows = NULL;
  size_t nrows = 0, caprows = 0;
  double now = now_s();
  int rc = 0;
  if (!l->nlater) return 0;
  job_counts_get(j, &n);
  if (n.in_flight) return JOB_NEXT_LATER; /* asked again when one ends */
  if (n.waiting) return 0; /* this process's requeued parts first; op_finished tells */
  if (l->rescans && now < l->rescan_at) {
    arm(l, l->rescan_at - now);
    return JOB_NEXT_LATER;
  }
  l->rescans++;
  l->rescan_at = now + RESCAN_MS / 1000.0;
  l->npend = l->headpend = 0;
  while (l->nlater && !l->npend) {
    load_part p = l->later[--l->nlater];
    int k;
    if ((rc = chunk_rows(l, p.chunk, &rows, &nrows, &caprows))) break;
    k = load_plan_parts_of(l, &p, rows, nrows, l->pend, sizeof l->pend / sizeof l->pend[0]);
    if (k < 0) {
      rc = k;
      break;
    }
    if (k == 0) {
      l->st.chunks_elsewhere++; /* committed by another process */
      continue;
    }
    l->npend = (size_t)k;
  }
  free(rows);
  if (rc) return rc;
  return l->npend ? 1 : 0;
}

/* ---- the process's row, heartbeat, sessions ---- */

static void hosts_log(void *ud, int level, const char *msg) {
  dbfork_load *l = ud;
  if (l->po.log && level <= (l->po.log_level ? l->po.log_level : DBFORK_LOG_INFO))
    l->po.log(level, msg, l->po.log_arg);
}

static void hosts_counts(void *ud, uint64_t *chunks, uint64_t *rows) {
  dbfork_load *l = ud;
  *chunks = l->st.chunks_done;
  *rows = l->st.rows_loaded;
}

static void hosts_lost(void *ud, const char *msg) {
  dbfork_load *l = ud;
  load_set_err(l, DBFORK_ECANCELED, "%s", msg);
  l->status = DBFORK_ECANCELED;
  job_fail(l->job, DBFORK_ECANCELED, "%s", msg);
  job_stop(l->job, 1);
}

int load_share_begin(dbfork_load *l) {
  job_hosts *h = &l->hosts;
  if (!l->c.job_shared) return 0;
  h->m = l->m;
  snprintf(h->table, sizeof h->table, "%s", l->c.procs);
  snprintf(h->job_id, sizeof h->job_id, "%s", l->c.t.job_id);
  h->name = l->lo.job_name;
  h->dead_after = l->lo.dead_after;
  h->workers = l->po.workers;
  h->ud = l;
  h->log = hosts_log;
  h->counts = hosts_counts;
  h->lost = hosts_lost;
  if (job_hosts_begin(h)) return load_set_err(l, DBFORK_ESQL, "%s", h->err);
  snprintf(l->c.proc_id, sizeof l->c.proc_id, "%s", h->proc_id);
  return 0;
}

void load_share_start(dbfork_load *l) {
  if (!l->c.job_shared) return;
  l->hosts.job = l->job;
  job_hosts_start(&l->hosts, dbfork_pool_loop(l->pool));
}

int load_share_on_connect(dbfork_worker *w, void *arg) {
  const dbfork_load *l = arg;
  MYSQL *m = dbfork_worker_mysql(w);
  if (job_worker_session_limits(m, l->lo.dead_after)) return DBFORK_ESQL;
  return job_hosts_worker(m, l->c.procs, l->c.t.job_id, l->c.proc_id);
}

void load_share_end(dbfork_load *l) {
  char sql[600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (l->later_timer_on) {
    uv_close((uv_handle_t *)&l->later_timer, NULL);
    l->later_timer_on = 0;
  }
  if (!l->c.job_shared || !l->m) return;
  l->st.processes_killed = l->hosts.killed;
  job_hosts_end(&l->hosts, l->st.chunks_done, l->st.rows_loaded);
  if (l->hosts.taken_for_dead) return;
  /* the job's totals: a report, not the job's failure */
  snprintf(sql, sizeof sql, "SELECT COUNT(*), IFNULL(SUM(records), 0) FROM %s WHERE job_id='%s'",
           l->c.t.progress, l->c.t.job_id);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m))) return;
  if ((row = mysql_fetch_row(r)) != NULL) {
    l->st.job_chunks_done = strtoull(row[0], NULL, 10);
    l->st.job_rows_done = strtoull(row[1], NULL, 10);
  }
  mysql_free_result(r);
}
