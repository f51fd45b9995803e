/*
 * test_load_output.c — issue 11, point 6: what `dbfork load` shows.
 *  - --json prints one valid JSON object whatever happens: bad usage, a
 *    table that does not exist, a server that cannot be reached (status,
 *    error, exit code), and file names that are not UTF-8; it names the
 *    reject file;
 *  - the progress bar fits the terminal (80 columns, and 40), is redrawn
 *    in place (every frame starts with '\r' and is no wider than the
 *    terminal less one), and its last frame says 100.0% (a header line
 *    used to keep it below);
 *  - the periodic lines of a log use the summary's thousands separators.
 * The bar is drawn on a pseudo-terminal of the test's (forkpty).
 */
#define _GNU_SOURCE
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "loadtest.h"

/* python3 parses the whole of `out` as one JSON object from strict UTF-8
 * and prints the keys asked (space-separated), or "INVALID: why". */
static char *json_keys(lt_env *e, const char *out, size_t len, const char *keys) {
  char path[256], cmd[1024], buf[2048];
  FILE *p;
  size_t n;
  snprintf(path, sizeof path, "%s/out.json", e->dir);
  lt_write_file(path, out, len);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c 'import json,sys\n"
           "try:\n d = json.loads(open(sys.argv[1], \"rb\").read().decode(\"utf-8\"))\n"
           "except Exception as x:\n print(\"INVALID:\", x); sys.exit(0)\n"
           "print(\" \".join(str(d.get(k)) for k in sys.argv[2].split()))' '%s' '%s'",
           path, keys);
  if (!(p = popen(cmd, "r"))) FAIL("popen python3");
  n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  buf[n] = 0;
  if (n && buf[n - 1] == '\n') buf[n - 1] = 0;
  return strdup(buf);
}

#define CHECK_JSON(e, r, keys, want)                                                    \
  do {                                                                                  \
    char *cj__g = json_keys((e), (r)->out, strlen((r)->out), (keys));                   \
    if (strcmp(cj__g, (want)))                                                          \
      FAIL("--json %s: '%s', want '%s'\nstdout:\n%s", (keys), cj__g, (want), (r)->out); \
    free(cj__g);                                                                        \
  } while (0)

TEST(json_is_one_valid_object_when_the_load_cannot_start) {
  lt_env e;
  lt_run r;
  char *got;
  lt_setup(&e, "orders", 1);
  lt_write_file(e.path, "1,2,3.00,2024-01-01,x\n", 22);
  lt_load(&r, &e, e.path, "orders", "--json", "--bogus-option", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_JSON(&e, &r, "status exit_code", "usage 64");
  got = json_keys(&e, r.out, strlen(r.out), "error");
  CHECK_CONTAINS(got, "bogus-option");
  free(got);
  lt_run_free(&r);
  lt_load(&r, &e, NULL, "orders", "--json", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_JSON(&e, &r, "status exit_code error", "usage 64 no FILE given");
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "no_such_table", "--json", NULL);
  CHECK_EXIT(&r, 64);
  got = json_keys(&e, r.out, strlen(r.out), "status exit_code error");
  CHECK_CONTAINS(got, "usage 64 option --table: table ");
  CHECK_CONTAINS(got, "no_such_table");
  free(got);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "--json", "-S", "/nonexistent/mysql.sock",
          "--connect-timeout=1", NULL);
  CHECK_EXIT(&r, 2);
  got = json_keys(&e, r.out, strlen(r.out), "status exit_code error");
  CHECK_CONTAINS(got, "failed 2 cannot connect to the server");
  free(got);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "--json", "--ssl-mode=SOMETIMES", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_JSON(&e, &r, "status exit_code", "usage 64");
  lt_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_teardown(&e);
}

/* A file name that is not UTF-8 (Latin-1 é): the object is still valid
 * UTF-8 (the byte becomes U+FFFD), and it names the reject file. */
TEST(json_is_valid_utf8_whatever_the_file_name_and_names_the_reject_file) {
  lt_env e;
  lt_run r;
  char path[256], *got;
  lt_setup(&e, "orders", 1);
  snprintf(path, sizeof path, "%s/r\xe9sum\xe9 \"1\".csv", e.dir);
  lt_write_file(path, "1,2,3.00,2024-01-01,x\n7,8\n", 26);
  lt_load(&r, &e, path, "orders", "--json", "--max-errors=1", NULL);
  CHECK_EXIT(&r, 1);
  got = json_keys(&e, r.out, strlen(r.out), "status rejected rows_loaded exit_code");
  CHECK_EQ_STR(got, "rejected 1 1 1");
  free(got);
  got = json_keys(&e, r.out, strlen(r.out), "reject_file");
  CHECK_CONTAINS(got, "/r\xef\xbf\xbdsum\xef\xbf\xbd \"1\".csv.rejects");
  free(got);
  lt_run_free(&r);
  lt_teardown(&e);
}

/* Runs the command on a pseudo-terminal of `cols` columns; returns what it
 * wrote there (stdout and stderr), NUL-terminated. */
static char *on_terminal(lt_env *e, unsigned short cols, const char *file, const char *table,
                         const char *a1, const char *a2) {
  struct winsize ws;
  char tbl[256], pw[256], *argv[LT_MAXARGS], *out = NULL;
  size_t len = 0, cap = 0;
  int master, st;
  pid_t pid;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = 24;
  ws.ws_col = cols;
  snprintf(tbl, sizeof tbl, "%s.%s", e->db, table);
  snprintf(pw, sizeof pw, "--password=%s", getenv("DBFORK_TEST_PASSWORD"));
  argv[0] = getenv("DBFORK_CLI");
  argv[1] = (char *)"load";
  argv[2] = (char *)file;
  argv[3] = (char *)"--table";
  argv[4] = tbl;
  argv[5] = (char *)"--no-defaults";
  argv[6] = (char *)"-S";
  argv[7] = getenv("DBFORK_TEST_SOCKET");
  argv[8] = (char *)"-u";
  argv[9] = getenv("DBFORK_TEST_USER");
  argv[10] = pw;
  argv[11] = (char *)a1;
  argv[12] = (char *)a2;
  argv[13] = NULL;
  fflush(stdout);
  fflush(stderr);
  pid = forkpty(&master, NULL, NULL, &ws);
  if (pid < 0) FAIL("forkpty: %s", strerror(errno));
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  for (;;) {
    ssize_t n;
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 65536;
      if (!(out = realloc(out, cap))) FAIL("out of memory");
    }
    n = read(master, out + len, 4096);
    if (n > 0) {
      len += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break; /* EIO: the child's side closed */
  }
  out[len] = 0;
  close(master);
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    FAIL("the load on the terminal did not exit 0:\n%s", out);
  return out;
}

/* Every frame of the bar (after a '\r', starting with '[') fits in cols - 1
 * columns; the last one says 100.0%. */
static void check_frames(const char *out, unsigned short cols) {
  const char *p = out, *last = NULL;
  int frames = 0;
  while ((p = strchr(p, '\r')) != NULL) {
    const char *s = p + 1, *end = s;
    size_t w = 0;
    if (!strncmp(s, "\033[K", 3)) s += 3;
    if (*s == '[') {
      for (end = s; *end && *end != '\r' && *end != '\n'; end++) w++;
      if (w > (size_t)cols - 1)
        FAIL("a frame of %zu columns on a terminal of %u: '%.*s'", w, cols, (int)w, s);
      frames++;
      last = s;
    }
    p = s;
  }
  if (!frames) FAIL("no progress bar on the terminal:\n%s", out);
  if (!strstr(last, "100.0%") || strstr(last, "100.0%") > strpbrk(last, "\r\n"))
    FAIL("the last frame does not say 100.0%%: '%.*s'", (int)(strpbrk(last, "\r\n") - last), last);
}

TEST(progress_bar_fits_the_terminal_and_reaches_100_percent) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(20000, sizeof *rows);
  char *out;
  lt_setup(&e, "orders", 1);
  /* a header line is not a chunk's bytes: the bar must still end at 100% */
  lt_write_rows(&e, &f, rows, 20000, 1, 41, 1, 1);
  out = on_terminal(&e, 80, e.path, "orders", "--skip-lines=1", "--chunk-size=16K");
  check_frames(out, 80);
  free(out);
  tu_exec(e.m, "TRUNCATE TABLE orders");
  out = on_terminal(&e, 40, e.path, "orders", "--skip-lines=1", "--reload");
  check_frames(out, 40);
  free(out);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 20000));
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* Not a terminal: the periodic line's rate reads like the summary's
 * (1,234 rows/s, not 1234 rows/s). */
TEST(log_lines_use_the_summarys_thousands_separators) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(20000, sizeof *rows);
  lt_run r;
  const char *line;
  lt_setup(&e, "orders", 1);
  lt_write_rows(&e, &f, rows, 20000, 1, 42, 1, 0);
  lt_load(&r, &e, e.path, "orders", NULL);
  CHECK_EXIT(&r, 0);
  line = strstr(r.err, "dbfork load: 100.0% of ");
  if (!line) FAIL("no final log line:\n%s", r.err);
  CHECK_CONTAINS(line, " 20,000 rows, ");
  {
    /* the rate: digits with a comma every three, then " rows/s" */
    const char *rate = strstr(line, "rows, ") + 6, *end = strstr(rate, " rows/s");
    size_t n = end ? (size_t)(end - rate) : 0, k;
    if (!end || !n) FAIL("no rate in '%s'", line);
    for (k = 0; k < n; k++)
      if ((n - k) % 4 == 0 ? rate[k] != ',' : (rate[k] < '0' || rate[k] > '9'))
        FAIL("the rate '%.*s' is not written like the summary's", (int)n, rate);
  }
  lt_run_free(&r);
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}
