/*
 * load_report.c — what `dbfork load` shows: the loader's events on stderr
 * and in the reject file, the progress bar (a terminal) or periodic lines
 * (a log), and the final summary or JSON object on stdout.
 */
#define _GNU_SOURCE
#include "load_cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char *cr(const load_cli *x) { return x->tty ? "\r" : ""; }

void load_cli_on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud) {
  load_cli *x = ud;
  (void)l;
  if (!x->json) fprintf(stderr, "%sdbfork load: %s: rejected %s\n", cr(x), r->file, r->reason);
  if (x->reject) {
    fprintf(x->reject, "# %s: %s\n", r->file, r->reason);
    fwrite(r->raw, 1, r->raw_len, x->reject);
    if (r->raw_len && r->raw[r->raw_len - 1] != '\n') fputc('\n', x->reject);
    fflush(x->reject);
  }
}

void load_cli_on_warning(dbfork_load *l, const dbfork_load_warning *w, void *ud) {
  load_cli *x = ud;
  (void)l;
  if (!x->json) fprintf(stderr, "    line %llu: %s\n", (unsigned long long)w->line, w->message);
}

static void chunk_failure(load_cli *x, const dbfork_load_chunk *c, char *msg, size_t len) {
  snprintf(msg, len, "chunk %llu (from line %llu, bytes %llu-%llu) failed: %s",
           (unsigned long long)c->chunk, (unsigned long long)c->first_line,
           (unsigned long long)c->offset, (unsigned long long)(c->offset + c->length), c->message);
  if (c->mysql_errno)
    snprintf(msg + strlen(msg), len - strlen(msg), " (MySQL error %u, SQLSTATE %s)", c->mysql_errno,
             c->sqlstate);
  (void)x;
}

void load_cli_on_chunk(dbfork_load *l, const dbfork_load_chunk *c, void *ud) {
  load_cli *x = ud;
  char msg[2048];
  (void)l;
  switch (c->what) {
    case DBFORK_LOAD_CHUNK_DONE:
      if (c->warnings && !x->json)
        fprintf(stderr, "%sdbfork load: chunk %llu (lines %llu-%llu): %llu server warning%s\n",
                cr(x), (unsigned long long)c->chunk, (unsigned long long)c->first_line,
                (unsigned long long)c->last_line, (unsigned long long)c->warnings,
                c->warnings == 1 ? "" : "s");
      if (c->recovered && x->verbose && !x->json)
        fprintf(stderr,
                "%sdbfork load: chunk %llu: its COMMIT outcome was unknown; found committed\n",
                cr(x), (unsigned long long)c->chunk);
      break;
    case DBFORK_LOAD_CHUNK_FAILED:
      chunk_failure(x, c, msg, sizeof msg);
      if (!x->json) fprintf(stderr, "%sdbfork load: %s; nothing of it was committed\n", cr(x), msg);
      if (!x->first_error[0]) snprintf(x->first_error, sizeof x->first_error, "%s", msg);
      break;
    case DBFORK_LOAD_CHUNK_REQUEUED:
    case DBFORK_LOAD_CHUNK_SPLIT:
      if (x->verbose && !x->json)
        fprintf(stderr,
                "%sdbfork load: chunk %llu part %llu (lines from %llu, %llu records): %s after "
                "%u lost attempt%s: %s\n",
                cr(x), (unsigned long long)c->chunk, (unsigned long long)c->part,
                (unsigned long long)c->first_line, (unsigned long long)c->records,
                c->what == DBFORK_LOAD_CHUNK_SPLIT ? "split in halves" : "sent to the back",
                c->attempts, c->attempts == 1 ? "" : "s", c->message);
      break;
    case DBFORK_LOAD_CHUNK_GAVE_UP:
      x->gave_up++;
      if (!x->json)
        fprintf(stderr,
                "%sdbfork load: gave up on lines from %llu (%llu record%s, bytes %llu-%llu of "
                "chunk %llu) after %u lost attempts: %s\n",
                cr(x), (unsigned long long)c->first_line, (unsigned long long)c->records,
                c->records == 1 ? "" : "s", (unsigned long long)c->offset,
                (unsigned long long)(c->offset + c->length), (unsigned long long)c->chunk,
                c->attempts, c->message);
      if (!x->first_error[0])
        snprintf(x->first_error, sizeof x->first_error,
                 "gave up on lines from %llu (bytes %llu-%llu): %s",
                 (unsigned long long)c->first_line, (unsigned long long)c->offset,
                 (unsigned long long)(c->offset + c->length), c->message);
      break;
    default: break;
  }
  load_cli_progress(x, 0);
}

void load_cli_progress(load_cli *x, int final) {
  dbfork_load_stats st;
  double now = cli_now(), el = now - x->t0, frac, rate;
  uint64_t total;
  char b1[32], b2[32];
  if (x->quiet || x->json) return;
  if (!final && now - x->last_print < (x->tty ? 0.2 : 5.0)) return;
  x->last_print = now;
  dbfork_load_stats_get(x->l, &st);
  total = st.file_bytes ? st.file_bytes : 1;
  frac = (double)(st.bytes_done + st.bytes_before) / (double)total;
  if (frac > 1) frac = 1;
  rate = el > 0 ? (double)st.rows_loaded / el : 0;
  if (x->tty) {
    int width = 30, k, filled = (int)(frac * width);
    double eta = frac > 0 && st.bytes_done
                     ? el * (1 - frac) / (frac - (double)st.bytes_before / total + 1e-9)
                     : 0;
    fprintf(stderr, "\r[");
    for (k = 0; k < width; k++) fputc(k < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%%  %s rows  %s rows/s  ETA %4.0fs  workers %d/%d busy ", frac * 100,
            cli_num(st.rows_loaded, b1, sizeof b1),
            cli_num((unsigned long long)rate, b2, sizeof b2), final ? 0.0 : eta, st.workers_busy,
            st.workers);
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "dbfork load: %.1f%% of %s bytes, %s rows, %.0f rows/s, %.1f s\n", frac * 100,
            cli_num(st.file_bytes, b1, sizeof b1), cli_num(st.rows_loaded, b2, sizeof b2), rate,
            el);
  }
}

static void json_string(const char *v) {
  putchar('"');
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

int load_cli_summary(load_cli *x, int status) {
  dbfork_load_stats st;
  double secs = cli_now() - x->t0;
  int ok = status == 0;
  uint64_t rejected;
  char b1[32];
  /* Peak resident memory: ours, and the largest of the (reaped) workers'.
   * Neither grows with the file: the parent holds descriptors, a worker one
   * part. */
  struct rusage ru_self, ru_kids;
  long peak_kb = 0, worker_peak_kb = 0;
  if (getrusage(RUSAGE_SELF, &ru_self) == 0) peak_kb = ru_self.ru_maxrss;
  if (getrusage(RUSAGE_CHILDREN, &ru_kids) == 0) worker_peak_kb = ru_kids.ru_maxrss;
  dbfork_load_stats_get(x->l, &st);
  /* --max-errors is for the whole load, across reruns. */
  rejected = st.rejected + st.rejected_before;
  if (!x->first_error[0] && status)
    snprintf(x->first_error, sizeof x->first_error, "%s", dbfork_load_last_error(x->l));
  if (x->json) {
    printf("{\"file\":");
    json_string(x->path);
    printf(",\"table\":");
    json_string(x->table);
    printf(
        ",\"method\":\"%s\",\"workers\":%d,\"job\":\"%s\",\"status\":\"%s\",\"rows_loaded\":%llu,"
        "\"records\":%llu,\"rejected\":%llu,\"warnings\":%llu,\"retries\":%llu,\"chunks\":%llu,"
        "\"chunks_skipped\":%llu,\"chunks_failed\":%llu,\"chunks_cancelled\":%llu,"
        "\"requeues\":%llu,\"splits\":%llu,\"given_up\":%llu,\"seconds\":%.3f,"
        "\"rows_per_second\":%.0f,\"peak_rss_kb\":%ld,\"worker_peak_rss_kb\":%ld",
        x->method, x->workers, st.job_id, ok ? (rejected ? "rejected" : "ok") : "failed",
        (unsigned long long)st.rows_loaded, (unsigned long long)st.records,
        (unsigned long long)rejected, (unsigned long long)st.warnings,
        (unsigned long long)st.retries, (unsigned long long)st.chunks,
        (unsigned long long)st.chunks_before, (unsigned long long)st.chunks_failed,
        (unsigned long long)st.chunks_cancelled, (unsigned long long)st.requeues,
        (unsigned long long)st.splits, (unsigned long long)st.given_up, secs,
        secs > 0 ? st.rows_loaded / secs : 0, peak_kb, worker_peak_kb);
    if (x->first_error[0]) {
      printf(",\"error\":");
      json_string(x->first_error);
    }
    printf("}\n");
  } else if (!x->quiet || !ok) {
    printf("dbfork load %s into %s (%s, %d workers)\n", x->path, x->table, x->method, x->workers);
    printf("  rows loaded    %s\n", cli_num(st.rows_loaded, b1, sizeof b1));
    printf("  rejected       %s", cli_num(rejected, b1, sizeof b1));
    if (rejected && x->reject_path) printf(" (original rows in %s)", x->reject_path);
    printf("\n");
    printf("  warnings       %llu\n", (unsigned long long)st.warnings);
    printf("  retries        %llu", (unsigned long long)st.retries);
    if (st.requeues || st.splits)
      printf(" (%llu parts sent to the back of the queue, %llu split in halves)",
             (unsigned long long)st.requeues, (unsigned long long)st.splits);
    printf("\n");
    printf(
        "  chunks         %llu (%llu loaded now, %llu by an earlier run, %llu failed, %llu "
        "cancelled",
        (unsigned long long)st.chunks, (unsigned long long)st.chunks_done,
        (unsigned long long)st.chunks_before, (unsigned long long)st.chunks_failed,
        (unsigned long long)st.chunks_cancelled);
    if (st.given_up) printf(", %llu parts given up", (unsigned long long)st.given_up);
    printf(")\n");
    printf("  time           %.3f s\n", secs);
    printf("  rate           %s rows/s\n",
           cli_num((unsigned long long)(secs > 0 ? st.rows_loaded / secs : 0), b1, sizeof b1));
    printf("  memory         %.1f MB peak (workers: %.1f MB each at most)\n", peak_kb / 1024.0,
           worker_peak_kb / 1024.0);
    if (x->first_error[0]) printf("  error          %s\n", x->first_error);
    if (!ok)
      printf(
          "  the load is incomplete: fix the cause and rerun the same command to load the rest "
          "exactly once\n");
  }
  if (ok) return rejected ? EXIT_REJECTED : EXIT_OK;
  return EXIT_FAILED;
}
