/*
 * exec_report.c — what `dbfork exec` shows: chunk failures and give-ups on
 * stderr, the progress bar (a terminal) or periodic lines (a log), and the
 * summary or the JSON object on stdout.
 */
#define _GNU_SOURCE
#include "exec_cli.h"

#include <stdlib.h>
#include <string.h>

int exec_cli_exit(int status) {
  if (status == 0) return EXIT_OK;
  if (status == DBFORK_EINVAL) return EXIT_USAGE;
  return EXIT_FAILED;
}

static const char *cr(exec_cli *e) {
  if (!e->tty || e->quiet || e->json || !e->bar_len) return "";
  e->bar_len = 0;
  return "\r\033[K";
}

void exec_cli_on_chunk(dbfork_exec *x, const dbfork_exec_chunk *c, void *ud) {
  exec_cli *e = ud;
  (void)x;
  switch (c->what) {
    case DBFORK_EXEC_CHUNK_FAILED:
      if (!e->first_error[0])
        snprintf(e->first_error, sizeof e->first_error,
                 "chunk %llu (keys above %s up to %s) failed: %s", (unsigned long long)c->chunk,
                 c->key_from[0] ? c->key_from : "(start)", c->key_to, c->message);
      if (!e->json)
        fprintf(stderr, "%sdbfork exec: chunk %llu (keys above %s up to %s) failed: %s%s\n", cr(e),
                (unsigned long long)c->chunk, c->key_from[0] ? c->key_from : "(start)", c->key_to,
                c->message, "; nothing of it was committed");
      break;
    case DBFORK_EXEC_CHUNK_GAVE_UP:
      if (!e->json)
        fprintf(stderr,
                "%sdbfork exec: gave up on chunk %llu (keys above %s up to %s) after %u lost "
                "attempts: %s\n",
                cr(e), (unsigned long long)c->chunk, c->key_from[0] ? c->key_from : "(start)",
                c->key_to, c->attempts, c->message);
      break;
    case DBFORK_EXEC_CHUNK_REQUEUED:
      if (e->verbose && !e->json)
        fprintf(stderr, "%sdbfork exec: chunk %llu: retried later (%u lost attempt%s): %s\n", cr(e),
                (unsigned long long)c->chunk, c->attempts, c->attempts == 1 ? "" : "s", c->message);
      break;
    default: break;
  }
  exec_cli_progress(e, 0);
}

void exec_cli_progress(exec_cli *e, int final) {
  dbfork_exec_stats st;
  double now = cli_now(), el = now - e->t0, frac, rate;
  char b1[32], b2[32], line[300], lag[32];
  int n;
  if (e->quiet || e->json || !e->x || !e->started) return;
  if (!final && now - e->last_print < (e->tty ? 0.2 : 5.0)) return;
  e->last_print = now;
  dbfork_exec_stats_get(e->x, &st);
  if (st.already_done) return;
  frac = st.rows_estimate ? (double)(st.rows_done + st.rows_before) / (double)st.rows_estimate : 0;
  if (frac > 1 || (final && st.status == 0)) frac = 1;
  rate = el > 0 ? (double)st.rows_done / el : 0;
  lag[0] = '\0';
  if (e->eo.nreplicas) {
    if (st.replica_lag < 0)
      snprintf(lag, sizeof lag, "  lag ?");
    else
      snprintf(lag, sizeof lag, "  lag %.0fs", st.replica_lag);
  }
  n = snprintf(line, sizeof line,
               "~%5.1f%%  %s rows  %s rows/s  %llu chunks  ETA %.0fs  %d/%d busy%s%s%s%s%s%s",
               frac * 100, cli_num(st.rows_affected, b1, sizeof b1),
               cli_num((unsigned long long)rate, b2, sizeof b2), (unsigned long long)st.chunks_done,
               final ? 0.0 : st.eta_seconds, st.workers_busy, st.workers_active, lag,
               st.paused && !final ? "  (paused:" : "",
               st.paused & DBFORK_EXEC_PAUSED_LOAD && !final ? " load" : "",
               st.paused & DBFORK_EXEC_PAUSED_LAG && !final ? " replica lag" : "",
               st.paused & DBFORK_EXEC_PAUSED_CONTROL && !final ? " control file" : "",
               st.paused && !final ? ")" : "");
  if (e->tty) {
    fprintf(stderr, "\r%s%*s", line, e->bar_len > n ? e->bar_len - n : 0, "");
    e->bar_len = n;
    if (final) {
      fputc('\n', stderr);
      e->bar_len = 0;
    }
  } else {
    fprintf(stderr, "dbfork exec: %s, %.1f s\n", line, el);
  }
}

void exec_cli_notes(exec_cli *e) {
  dbfork_exec_stats st;
  if (e->json) return;
  dbfork_exec_stats_get(e->x, &st);
  if (st.already_done)
    fprintf(stderr,
            "dbfork exec: job %s on %s has completed already (%llu chunks): nothing to do; "
            "--restart to run it again\n",
            st.job_id, e->table, (unsigned long long)st.chunks_before);
  else if (st.resumed)
    fprintf(stderr, "dbfork exec: resuming job %s: %llu chunks committed by earlier runs\n",
            st.job_id, (unsigned long long)st.chunks_before);
}

int exec_cli_json_early(exec_cli *e, int exit) {
  if (!e->json) return exit;
  if (!e->first_error[0] && e->x)
    snprintf(e->first_error, sizeof e->first_error, "%s", dbfork_exec_last_error(e->x));
  printf("{\"table\":");
  cli_json_string(stdout, e->table[0] ? e->table : e->eo.table ? e->eo.table : "");
  printf(",\"status\":\"%s\",\"exit_code\":%d,\"error\":", exit == EXIT_USAGE ? "usage" : "failed",
         exit);
  cli_json_string(stdout, e->first_error[0] ? e->first_error : "failed before the job started");
  printf("}\n");
  fflush(stdout);
  return exit;
}

int exec_cli_summary(exec_cli *e, int status) {
  dbfork_exec_stats st;
  double secs = cli_now() - e->t0;
  int exit = exec_cli_exit(status);
  char b1[32];
  dbfork_exec_stats_get(e->x, &st);
  if (!e->first_error[0] && status)
    snprintf(e->first_error, sizeof e->first_error, "%s", dbfork_exec_last_error(e->x));
  if (e->json) {
    printf("{\"table\":");
    cli_json_string(stdout, e->table);
    printf(
        ",\"status\":\"%s\",\"exit_code\":%d,\"job\":\"%s\",\"workers\":%d,"
        "\"workers_active\":%d,\"resumed\":%s,\"rows_planned\":%llu,\"rows_done\":%llu,"
        "\"rows_before\":%llu,\"rows_matched\":%llu,\"rows_affected\":%llu,\"chunks\":%llu,"
        "\"chunks_done\":%llu,\"chunks_before\":%llu,\"chunks_failed\":%llu,"
        "\"chunks_cancelled\":%llu,\"requeues\":%llu,\"given_up\":%llu,\"retries\":%llu,"
        "\"pauses\":%llu,\"paused_seconds\":%.3f,\"chunk_rows\":%llu,\"seconds\":%.3f,"
        "\"rows_per_second\":%.0f",
        status == 0 ? (st.already_done ? "already_done" : "ok") : "failed", exit, st.job_id,
        st.workers, st.workers_active, st.resumed ? "true" : "false",
        (unsigned long long)st.rows_planned, (unsigned long long)st.rows_done,
        (unsigned long long)st.rows_before, (unsigned long long)st.rows_matched,
        (unsigned long long)st.rows_affected, (unsigned long long)st.chunks,
        (unsigned long long)st.chunks_done, (unsigned long long)st.chunks_before,
        (unsigned long long)st.chunks_failed, (unsigned long long)st.chunks_cancelled,
        (unsigned long long)st.requeues, (unsigned long long)st.given_up,
        (unsigned long long)st.retries, (unsigned long long)st.pauses, st.paused_seconds,
        (unsigned long long)st.chunk_rows, secs, secs > 0 ? st.rows_done / secs : 0);
    if (e->eo.nreplicas)
      printf(",\"replica_lag\":%.0f,\"lag_pauses\":%llu,\"lag_paused_seconds\":%.3f",
             st.replica_lag, (unsigned long long)st.lag_pauses, st.lag_paused_seconds);
    if (e->eo.job_name) {
      printf(",\"job_name\":");
      cli_json_string(stdout, e->eo.job_name);
      printf(
          ",\"chunks_elsewhere\":%llu,\"job_chunks_done\":%llu,\"job_rows_done\":%llu,"
          "\"processes_killed\":%llu",
          (unsigned long long)st.chunks_elsewhere, (unsigned long long)st.job_chunks_done,
          (unsigned long long)st.job_rows_done, (unsigned long long)st.processes_killed);
    }
    if (e->first_error[0]) {
      printf(",\"error\":");
      cli_json_string(stdout, e->first_error);
    }
    printf("}\n");
  } else if (st.already_done) {
    /* exec_cli_notes said it */
  } else if (!e->quiet || status) {
    printf("dbfork exec on %s (job %s, %d workers)\n", e->table, st.job_id, st.workers);
    printf("  rows matched   %s\n", cli_num(st.rows_matched, b1, sizeof b1));
    printf("  rows affected  %s\n", cli_num(st.rows_affected, b1, sizeof b1));
    printf(
        "  chunks         %llu (%llu committed now, %llu by earlier runs, %llu failed, %llu "
        "cancelled, %llu given up)\n",
        (unsigned long long)st.chunks, (unsigned long long)st.chunks_done,
        (unsigned long long)st.chunks_before, (unsigned long long)st.chunks_failed,
        (unsigned long long)st.chunks_cancelled, (unsigned long long)st.given_up);
    if (e->eo.job_name)
      printf(
          "  shared job     %s: %llu chunks met elsewhere; the job has %llu chunks, %s keys "
          "committed\n",
          e->eo.job_name, (unsigned long long)st.chunks_elsewhere,
          (unsigned long long)st.job_chunks_done, cli_num(st.job_rows_done, b1, sizeof b1));
    printf("  retries        %llu (%llu chunks sent to the back of the queue)\n",
           (unsigned long long)st.retries, (unsigned long long)st.requeues);
    if (st.pauses)
      printf("  paused         %llu times, %.1f s (%llu times, %.1f s for replica lag)\n",
             (unsigned long long)st.pauses, st.paused_seconds, (unsigned long long)st.lag_pauses,
             st.lag_paused_seconds);
    printf("  time           %.3f s\n", secs);
    printf("  rate           %s keys/s\n",
           cli_num((unsigned long long)(secs > 0 ? st.rows_done / secs : 0), b1, sizeof b1));
    if (e->first_error[0]) printf("  error          %s\n", e->first_error);
    if (status)
      printf(
          "  the job is incomplete: fix the cause and rerun the same command; it resumes "
          "and changes every row exactly once\n");
  }
  fflush(stdout);
  return exit;
}
