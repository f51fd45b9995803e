/*
 * rerun.c — what a run does, given the job's earlier runs. A job is a file
 * path and a table, and one load of them; its rows in the loader's tables
 * (progress.c) say how far it got. With the job's named lock held (so two
 * runs of one job never overlap):
 *
 *   no job yet                      a new job (generation 1), loads
 *   restart / reload / truncate     a new job: the table must be empty, or
 *                                   truncate empties it in the same
 *                                   transaction that starts the job
 *   interrupted (not completed)     resume: the committed parts must have
 *                                   the same bytes now (DBFORK_ECHANGED
 *                                   says what changed), the rest loads
 *   completed, same bytes           nothing to do: already_loaded
 *   completed, other bytes          a new job (the next generation), loads
 *
 * "The same bytes" for a completed job is the hash of the whole file as
 * the run that completed it read it (not its chunks): a rerun with other
 * options (--chunk-size, the dialect) on the same file is not mistaken for
 * a new file.
 */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The id of generation g of the job key: the key itself for the first
 * (the id dbfork 0.1 and 0.2 gave the job), FNV-1a of "key#g" after. */
static void job_id_of(const char *key, unsigned g, char out[17]) {
  char buf[40];
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i, n;
  if (g <= 1) {
    snprintf(out, 17, "%s", key);
    return;
  }
  n = (size_t)snprintf(buf, sizeof buf, "%s#%u", key, g);
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ull;
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void set_job_id(dbfork_load *l, const char *id) {
  snprintf(l->c.t.job_id, sizeof l->c.t.job_id, "%s", id);
  snprintf(l->st.job_id, sizeof l->st.job_id, "%s", id);
}

/* restart, reload and truncate start over: into an empty table only,
 * unless truncate empties it. */
static int check_empty(dbfork_load *l, const char *why) {
  int rc;
  if (l->lo.truncate) return 0;
  if ((rc = load_table_has_rows(l)) < 0) return rc;
  if (rc)
    return load_set_err(l, DBFORK_EINVAL,
                        "option %s: table %s already holds rows, which loading the file again "
                        "would duplicate; empty it first, or add --truncate to empty it as the "
                        "load starts",
                        why, l->c.table);
  return 0;
}

/* A new job of generation g that follows `prev` (or none). */
static int new_job(dbfork_load *l, unsigned g, const load_jobrow *prev, int drop_prev) {
  char id[17];
  int rc;
  job_id_of(l->c.job_key, g, id);
  if ((rc = load_job_start(l, id, g, prev && prev->found ? prev->id : NULL, drop_prev,
                           l->lo.truncate)))
    return rc;
  set_job_id(l, id);
  if (prev && prev->found && prev->completed && !drop_prev) {
    snprintf(l->st.previous_job, sizeof l->st.previous_job, "%s", prev->id);
    snprintf(l->st.loaded_at, sizeof l->st.loaded_at, "%s", prev->completed_at);
  }
  return 0;
}

static void forget_prior(dbfork_load *l) {
  l->nprior = 0;
  l->st.rejected_before = l->st.rows_before = 0;
  l->plan_rows = 0;
}

int load_prepare_job(dbfork_load *l) {
  const dbfork_load_options *o = &l->lo;
  const char *fresh = o->restart    ? "--restart"
                      : o->reload   ? "--reload"
                      : o->truncate ? "--truncate"
                                    : NULL;
  load_jobrow j;
  int rc;
  if (l->c.no_resume) {
    if (o->restart || o->reload)
      return load_set_err(l, DBFORK_EINVAL,
                          "option %s: with --no-resume nothing of earlier runs is recorded, so "
                          "there is nothing to forget",
                          o->restart ? "--restart" : "--reload");
    set_job_id(l, l->c.job_key);
    if ((rc = load_job_lock(l))) return rc;
    l->st.no_resume = 1;
    return o->truncate ? load_job_start(l, l->c.job_key, 1, NULL, 0, 1) : 0;
  }
  if ((rc = load_tables_names(l)) || (rc = load_tables_prepare(l))) return rc;
  if (l->c.job_shared) return load_share_prepare(l); /* no lock: the processes share the job */
  if ((rc = load_job_find(l, &j))) return rc;
  if (j.found) set_job_id(l, j.id); /* for the lock's message */
  if ((rc = load_job_lock(l))) return rc;
  if ((rc = load_job_find(l, &j))) return rc; /* again, now that it is ours */
  if (!j.found) {
    /* A job of dbfork 0.1 (progress rows, no job row) is adopted as it is:
     * load_job_start counts its rejects, and it resumes below. */
    if (fresh && (rc = check_empty(l, fresh))) return rc;
    if ((rc = new_job(l, 1, NULL, 0))) return rc;
    if (!fresh) return load_read_prior(l);
    return 0;
  }
  set_job_id(l, j.id);
  if (fresh) {
    /* An interrupted job is forgotten whole; a completed one stays in the
     * job table as the one this follows. */
    if ((rc = check_empty(l, fresh))) return rc;
    return j.completed ? new_job(l, j.generation + 1, &j, 0) : new_job(l, j.generation, &j, 1);
  }
  if (!j.completed) {
    if ((rc = load_read_prior(l))) return rc;
    if (l->nprior && j.file_size != l->st.file_bytes)
      return load_set_err(l, DBFORK_ECHANGED,
                          "cannot resume job %s: %s is %llu bytes now, %llu when its interrupted "
                          "run started; restore the file of the interrupted run, or empty the "
                          "table and rerun with --restart (or --truncate)",
                          j.id, l->c.path, (unsigned long long)l->st.file_bytes,
                          (unsigned long long)j.file_size);
    return 0;
  }
  {
    uint64_t h = 0;
    int same = 0;
    /* The hash of this version, or of dbfork 1.0 (whose jobs stay "already
     * loaded"): the second read only when the first differs. */
    if (j.file_size == l->st.file_bytes) {
      if ((rc = load_file_hash(l, LOAD_HASH_CRC, &h))) return rc;
      if (!(same = h == j.file_hash) && (rc = load_file_hash(l, LOAD_HASH_FNV, &h))) return rc;
      same = same || h == j.file_hash;
    }
    if (same) {
      l->st.already_loaded = 1;
      l->st.rows_before = j.rows;
      l->st.rejected_before = j.rejected;
      snprintf(l->st.loaded_at, sizeof l->st.loaded_at, "%s", j.completed_at);
      return 0;
    }
  }
  forget_prior(l);
  return new_job(l, j.generation + 1, &j, 0);
}
