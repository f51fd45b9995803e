/*
 * optfile.c — the mysql tools' option files, read the way they read them,
 * for what the client library does not read itself: dbfork's own options
 * in the [dbfork] and [dbfork-load] groups (workers, max-errors ...),
 * --defaults-extra-file, --print-defaults, and whether an option file sets
 * host, port or socket (the MYSQL_HOST, MYSQL_TCP_PORT and MYSQL_UNIX_PORT
 * environment variables only fill in what neither the command line nor an
 * option file gives).
 *
 * Format: "[group]" lines, "key=value" or "key" lines (the value may be
 * quoted; '#' or ';' start a comment), "!include FILE" and "!includedir
 * DIR" (its *.cnf files, in name order). Keys take '-' and '_' alike.
 */
#define _GNU_SOURCE
#include "common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 10

static int is_group(const char *name, const char *const *groups) {
  for (; *groups; groups++)
    if (!strcmp(name, *groups)) return 1;
  return 0;
}

static char *trim(char *s) {
  char *e;
  while (isspace((unsigned char)*s)) s++;
  e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
  return s;
}

/* A value as the tools read it: quoted ('...' or "...", with \ escapes
 * inside double quotes) or bare up to a comment. */
static void unquote(char *v) {
  char q = *v, *r, *w;
  if (q == '\'' || q == '"') {
    for (r = v + 1, w = v; *r && *r != q; r++) {
      if (*r == '\\' && q == '"' && r[1]) {
        r++;
        *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
      } else {
        *w++ = *r;
      }
    }
    *w = 0;
    return;
  }
  for (r = v; *r; r++)
    if ((*r == '#' || *r == ';') && (r == v || isspace((unsigned char)r[-1]))) {
      *r = 0;
      break;
    }
  r = trim(v);
  memmove(v, r, strlen(r) + 1);
}

static int read_file(const char *path, const char *const *groups, cli_opt_fn fn, void *ud,
                     int depth, int must_exist);

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir(const char *dir, const char *const *groups, cli_opt_fn fn, void *ud,
                    int depth) {
  DIR *d = opendir(dir);
  struct dirent *de;
  char **names = NULL;
  size_t n = 0, i;
  int rc = 0;
  if (!d) return 0; /* as the tools: a missing directory is skipped */
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    char **nn;
    if (len < 5 || strcmp(de->d_name + len - 4, ".cnf")) continue;
    if (!(nn = realloc(names, (n + 1) * sizeof *nn))) break;
    names = nn;
    if (asprintf(&names[n], "%s/%s", dir, de->d_name) < 0) break;
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (i = 0; i < n; i++) {
    if (!rc) rc = read_file(names[i], groups, fn, ud, depth + 1, 0);
    free(names[i]);
  }
  free(names);
  return rc;
}

static int read_file(const char *path, const char *const *groups, cli_opt_fn fn, void *ud,
                     int depth, int must_exist) {
  FILE *f;
  char line[4096], group[128] = "";
  unsigned lineno = 0;
  int rc = 0;
  if (depth > MAX_DEPTH) {
    cli_error("%s: option files include each other too deeply", path);
    return -1;
  }
  if (!(f = fopen(path, "r"))) {
    if (!must_exist) return 0;
    cli_error("option file %s: %s", path, strerror(errno));
    return -1;
  }
  while (!rc && fgets(line, sizeof line, f)) {
    char *s = trim(line), *eq, *key, *val;
    lineno++;
    if (!*s || *s == '#' || *s == ';') continue;
    if (!strncmp(s, "!includedir", 11) && isspace((unsigned char)s[11])) {
      rc = read_dir(trim(s + 11), groups, fn, ud, depth);
      continue;
    }
    if (!strncmp(s, "!include", 8) && isspace((unsigned char)s[8])) {
      rc = read_file(trim(s + 8), groups, fn, ud, depth + 1, 1);
      continue;
    }
    if (*s == '[') {
      char *e = strchr(s, ']');
      if (e) *e = 0;
      snprintf(group, sizeof group, "%s", trim(s + 1));
      continue;
    }
    if (!group[0] || !is_group(group, groups)) continue;
    eq = strchr(s, '=');
    if (eq) *eq = 0;
    key = trim(s);
    val = eq ? eq + 1 : NULL;
    if (val) {
      val = trim(val);
      unquote(val);
    }
    for (char *k = key; *k; k++)
      if (*k == '_') *k = '-';
    rc = fn(ud, path, lineno, group, key, val);
  }
  fclose(f);
  return rc;
}

int cli_optfiles_read(const cli_conn *c, const char *const *groups, cli_opt_fn fn, void *ud) {
  const char *home = getenv("HOME"), *mhome = getenv("MARIADB_HOME");
  char buf[4096];
  int rc;
  if (c->no_defaults) return 0;
  if (c->defaults_file) {
    if ((rc = read_file(c->defaults_file, groups, fn, ud, 0, 1))) return rc;
  } else {
    /* The files MariaDB Connector/C reads, in its order. */
    if ((rc = read_file("/etc/my.cnf", groups, fn, ud, 0, 0)) ||
        (rc = read_file("/etc/mysql/my.cnf", groups, fn, ud, 0, 0)))
      return rc;
    if (!mhome) mhome = getenv("MYSQL_HOME");
    if (mhome) {
      snprintf(buf, sizeof buf, "%s/my.cnf", mhome);
      if ((rc = read_file(buf, groups, fn, ud, 0, 0))) return rc;
    }
    /* --defaults-extra-file: after the global files, before the user's */
    if (c->defaults_extra_file && (rc = read_file(c->defaults_extra_file, groups, fn, ud, 0, 1)))
      return rc;
    if (home) {
      snprintf(buf, sizeof buf, "%s/.my.cnf", home);
      if ((rc = read_file(buf, groups, fn, ud, 0, 0))) return rc;
    }
    return 0;
  }
  if (c->defaults_extra_file && (rc = read_file(c->defaults_extra_file, groups, fn, ud, 0, 1)))
    return rc;
  return 0;
}
