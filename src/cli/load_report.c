/*
 * load_report.c — what `dbfork load` shows: the loader's events on stderr
 * and in the reject file, the progress bar (a terminal) or periodic lines
 * (a log), and the final summary or JSON object on stdout.
 */
#define _GNU_SOURCE
#include "load_cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

/* Before a message on a terminal: back to the start of the line, which the
 * progress bar holds, and clear it. */
static const char *cr(load_cli *x) {
  if (!x->tty || x->quiet || x->json) return "";
  x->bar_len = 0;
  return "\r\033[K";
}

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
  if (!x->json)
    fprintf(stderr, "%s    line %llu: %s\n", cr(x), (unsigned long long)w->line, w->message);
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
  load_cli_progress(x, 0, 0);
}

/* The terminal's width (stderr's), COLUMNS, or 80. */
static int term_width(void) {
  struct winsize ws;
  const char *c = getenv("COLUMNS");
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (c && atoi(c) > 0) return atoi(c);
  return 80;
}

void load_cli_progress(load_cli *x, int final, int status) {
  dbfork_load_stats st;
  double now = cli_now(), el = now - x->t0, frac, rate;
  uint64_t total;
  char b1[32], b2[32], b3[32];
  if (x->quiet || x->json) return;
  if (!final && now - x->last_print < (x->tty ? 0.2 : 5.0)) return;
  x->last_print = now;
  dbfork_load_stats_get(x->l, &st);
  if (st.already_loaded) return;
  total = st.file_bytes ? st.file_bytes : 1;
  frac = (double)(st.bytes_done + st.bytes_before) / (double)total;
  /* A load that ended well read all of the file: header lines and a byte
   * order mark are no chunk's, but they are done too. */
  if (frac > 1 || (final && status == 0)) frac = 1;
  rate = el > 0 ? (double)st.rows_loaded / el : 0;
  if (x->tty) {
    /* One line that fits the terminal, drawn over the last one: the text,
     * then as much bar as the width leaves (fields dropped from the right
     * on narrow terminals), padded to the last line's length. */
    int width = term_width() - 1, k, bar, len;
    double eta = frac > 0 && st.bytes_done
                     ? el * (1 - frac) / (frac - (double)st.bytes_before / total + 1e-9)
                     : 0;
    char text[256], line[1024];
    int n = snprintf(text, sizeof text, " %5.1f%%  %s rows  %s rows/s  ETA %.0fs  %d/%d busy",
                     frac * 100, cli_num(st.rows_loaded, b1, sizeof b1),
                     cli_num((unsigned long long)rate, b2, sizeof b2), final ? 0.0 : eta,
                     st.workers_busy, st.workers);
    if (width > (int)sizeof line - 1) width = (int)sizeof line - 1;
    while (n > width - 12 && n > 0) { /* keep a bar of 10 at least, else cut the text */
      char *cut = strrchr(text, ' ');
      while (cut && cut > text && cut[-1] == ' ') cut--;
      if (!cut || cut == text) break;
      *cut = 0;
      n = (int)strlen(text);
    }
    if (n > width - 2) n = width > 2 ? width - 2 : 0;
    bar = width - 2 - n;
    if (bar > 40) bar = 40;
    len = 0;
    line[len++] = '[';
    for (k = 0; k < bar; k++) line[len++] = k < (int)(frac * bar) ? '#' : '.';
    line[len++] = ']';
    memcpy(line + len, text, (size_t)n);
    len += n;
    for (k = len; k < x->bar_len && k < width; k++) line[k] = ' ';
    fprintf(stderr, "\r%.*s", k > len ? k : len, line);
    x->bar_len = len;
    if (final) {
      fputc('\n', stderr);
      x->bar_len = 0;
    }
  } else {
    fprintf(stderr, "dbfork load: %.1f%% of %s bytes, %s rows, %s rows/s, %.1f s\n", frac * 100,
            cli_num(st.file_bytes, b1, sizeof b1), cli_num(st.rows_loaded, b2, sizeof b2),
            cli_num((unsigned long long)rate, b3, sizeof b3), el);
  }
}

void load_cli_notes(load_cli *x) {
  dbfork_load_stats st;
  char b1[32];
  dbfork_load_stats_get(x->l, &st);
  if (x->json) return;
  if (st.already_loaded)
    fprintf(stderr,
            "dbfork load: %s into %s: already loaded on %s as job %s: %s rows%s; --reload to "
            "load it again\n",
            x->path, x->table, st.loaded_at, st.job_id, cli_num(st.rows_before, b1, sizeof b1),
            st.rejected_before ? " (and rejects)" : "");
  else if (st.previous_job[0] && (x->lo.reload || x->lo.truncate || x->lo.restart))
    fprintf(stderr, "dbfork load: loading %s again (job %s loaded it on %s): this is job %s\n",
            x->path, st.previous_job, st.loaded_at, st.job_id);
  else if (st.previous_job[0])
    fprintf(stderr,
            "dbfork load: %s changed since job %s loaded it on %s: loading it as a new job, %s\n",
            x->path, st.previous_job, st.loaded_at, st.job_id);
  else if (st.resumed)
    fprintf(stderr, "dbfork load: resuming job %s: %llu part%s of chunks already committed\n",
            st.job_id, (unsigned long long)st.parts_before, st.parts_before == 1 ? "" : "s");
}

static void json_head(load_cli *x, const char *status, int exit) {
  printf("{\"file\":");
  if (x->path)
    cli_json_string(stdout, x->path);
  else
    printf("null");
  printf(",\"table\":");
  if (x->table[0])
    cli_json_string(stdout, x->table);
  else if (x->lo.table)
    cli_json_string(stdout, x->lo.table);
  else
    printf("null");
  printf(",\"status\":\"%s\",\"exit_code\":%d,\"reject_file\":", status, exit);
  if (x->reject_path)
    cli_json_string(stdout, x->reject_path);
  else
    printf("null");
}

int load_cli_json_early(load_cli *x, int exit) {
  if (!x->json) return exit;
  if (!x->first_error[0] && x->l)
    snprintf(x->first_error, sizeof x->first_error, "%s", dbfork_load_last_error(x->l));
  json_head(x, exit == EXIT_USAGE ? "usage" : "failed", exit);
  printf(",\"error\":");
  cli_json_string(stdout, x->first_error[0] ? x->first_error : "failed before the load started");
  printf("}\n");
  fflush(stdout);
  return exit;
}

int load_cli_summary(load_cli *x, int status) {
  dbfork_load_stats st;
  double secs = cli_now() - x->t0;
  int ok = status == 0, exit;
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
  /* A rerun that found the job loaded did nothing: that is success. */
  exit = !ok ? EXIT_FAILED : st.already_loaded ? EXIT_OK : rejected ? EXIT_REJECTED : EXIT_OK;
  if (x->json) {
    json_head(x,
              !ok                 ? "failed"
              : st.already_loaded ? "already_loaded"
              : rejected          ? "rejected"
                                  : "ok",
              exit);
    printf(
        ",\"method\":\"%s\",\"workers\":%d,\"job\":\"%s\",\"rows_loaded\":%llu,"
        "\"records\":%llu,\"rejected\":%llu,\"warnings\":%llu,\"retries\":%llu,\"chunks\":%llu,"
        "\"chunks_loaded\":%llu,\"chunks_skipped\":%llu,\"chunks_failed\":%llu,"
        "\"chunks_cancelled\":%llu,\"chunks_given_up\":%llu,\"requeues\":%llu,\"splits\":%llu,"
        "\"given_up\":%llu,\"resume\":%s,\"previous_job\":",
        x->method, x->workers, st.job_id, (unsigned long long)st.rows_loaded,
        (unsigned long long)st.records, (unsigned long long)rejected,
        (unsigned long long)st.warnings, (unsigned long long)st.retries,
        (unsigned long long)st.chunks, (unsigned long long)st.chunks_done,
        (unsigned long long)st.chunks_before, (unsigned long long)st.chunks_failed,
        (unsigned long long)st.chunks_cancelled, (unsigned long long)st.chunks_given_up,
        (unsigned long long)st.requeues, (unsigned long long)st.splits,
        (unsigned long long)st.given_up, st.no_resume ? "false" : "true");
    if (st.previous_job[0])
      printf("\"%s\"", st.previous_job);
    else
      printf("null");
    printf(",\"loaded_at\":");
    if (st.loaded_at[0])
      printf("\"%s\"", st.loaded_at);
    else
      printf("null");
    printf(
        ",\"rows_before\":%llu,\"seconds\":%.3f,\"rows_per_second\":%.0f,\"peak_rss_kb\":%ld,"
        "\"worker_peak_rss_kb\":%ld",
        (unsigned long long)st.rows_before, secs, secs > 0 ? st.rows_loaded / secs : 0, peak_kb,
        worker_peak_kb);
    if (x->job_name)
      printf(
          ",\"job_name\":\"%s\",\"chunks_elsewhere\":%llu,\"job_chunks_done\":%llu,"
          "\"job_rows_done\":%llu,\"processes_killed\":%llu",
          x->job_name, (unsigned long long)st.chunks_elsewhere,
          (unsigned long long)st.job_chunks_done, (unsigned long long)st.job_rows_done,
          (unsigned long long)st.processes_killed);
    if (x->first_error[0]) {
      printf(",\"error\":");
      cli_json_string(stdout, x->first_error);
    }
    printf("}\n");
  } else if (st.already_loaded) {
    /* load_cli_notes said it */
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
    if (st.chunks_given_up)
      printf(", %llu with parts given up", (unsigned long long)st.chunks_given_up);
    if (st.given_up) printf("; %llu parts given up", (unsigned long long)st.given_up);
    printf(")\n");
    if (x->job_name)
      printf(
          "  shared job     %s: %llu chunks committed elsewhere after this process joined; "
          "the job: %llu parts, %llu rows committed by every process%s\n",
          x->job_name, (unsigned long long)st.chunks_elsewhere,
          (unsigned long long)st.job_chunks_done, (unsigned long long)st.job_rows_done,
          st.processes_killed ? " (silent processes' sessions KILLed)" : "");
    printf("  time           %.3f s\n", secs);
    printf("  rate           %s rows/s\n",
           cli_num((unsigned long long)(secs > 0 ? st.rows_loaded / secs : 0), b1, sizeof b1));
    printf("  memory         %.1f MB peak (workers: %.1f MB each at most)\n", peak_kb / 1024.0,
           worker_peak_kb / 1024.0);
    if (st.no_resume)
      printf("  progress       not recorded (--no-resume): a rerun loads the whole file again\n");
    if (x->first_error[0]) printf("  error          %s\n", x->first_error);
    if (!ok)
      printf("  the load is incomplete: %s\n",
             st.no_resume ? "fix the cause; with --no-resume a rerun loads the whole file again"
                          : "fix the cause and rerun the same command to load the rest exactly "
                            "once");
  }
  return exit;
}
