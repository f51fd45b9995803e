/*
 * colspec.c — the file's columns (--columns, where "@v" reads a field into
 * a variable instead of a column) and LOAD DATA's SET clause (--set "col =
 * expr, ..."), parsed once so that both methods load the same thing: the
 * load-data method sends the SET clause as it is, the insert method puts
 * each expression in its VALUES row with the variables turned into
 * placeholders bound to their fields. Pure: no server, no I/O.
 */
#include "loader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_n(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = 0;
  }
  return s;
}

/* Trims blanks at both ends of [*p, *p + *n). */
static void trim(const char **p, size_t *n) {
  while (*n && isspace((unsigned char)**p)) (*p)++, (*n)--;
  while (*n && isspace((unsigned char)(*p)[*n - 1])) (*n)--;
}

static int var_char(int c) { return isalnum(c) || c == '_' || c == '$' || c == '.'; }

/* The end of the quoted run starting at s[0] (a quote byte), past its
 * closing quote; quotes inside are doubled or, for ' and ", backslashed. */
static const char *skip_quoted(const char *s) {
  char q = *s++;
  for (; *s; s++) {
    if (*s == '\\' && q != '`' && s[1]) {
      s++;
    } else if (*s == q) {
      if (s[1] != q) return s + 1;
      s++;
    }
  }
  return s;
}

/* The next top-level comma of s (outside quotes and parentheses), or its
 * end. */
static const char *next_comma(const char *s) {
  int depth = 0;
  while (*s) {
    if (*s == '\'' || *s == '"' || *s == '`') {
      s = skip_quoted(s);
      continue;
    }
    if (*s == '(') depth++;
    if (*s == ')' && depth) depth--;
    if (*s == ',' && !depth) return s;
    s++;
  }
  return s;
}

void load_colspec_free(load_colspec *cs) {
  int i;
  for (i = 0; i < cs->n; i++) free(cs->names[i]);
  for (i = 0; i < cs->nset; i++) {
    free(cs->set_col[i]);
    free(cs->set_expr[i]);
  }
  free(cs->names);
  free(cs->set_col);
  free(cs->set_expr);
  memset(cs, 0, sizeof *cs);
}

static int grow(char ***arr, int n) {
  char **np = realloc(*arr, (size_t)(n + 1) * sizeof *np);
  if (!np) return -1;
  *arr = np;
  return 0;
}

int load_colspec_add(load_colspec *cs, const char *name) {
  if (grow(&cs->names, cs->n) || !(cs->names[cs->n] = strdup(name))) return -1;
  cs->n++;
  return 0;
}

int load_colspec_parse(load_colspec *cs, const char *columns, const char *set, char *why,
                       size_t whylen) {
  const char *p;
  memset(cs, 0, sizeof *cs);
  for (p = columns; p && *p;) {
    const char *comma = strchr(p, ','), *s = p;
    size_t len = comma ? (size_t)(comma - p) : strlen(p), k;
    if (!len) {
      snprintf(why, whylen, "option --columns: an empty name in '%s'", columns);
      goto fail;
    }
    if (*s == '@') {
      for (k = 1; k < len && var_char((unsigned char)s[k]); k++) {
      }
      if (len == 1 || k != len) {
        snprintf(why, whylen,
                 "option --columns: '%.*s' is not a variable name (@ and letters, digits, "
                 "'_', '$', '.')",
                 (int)len, s);
        goto fail;
      }
    }
    if (cs->n >= LOAD_MAX_COLS) {
      snprintf(why, whylen, "option --columns: more than %d columns", LOAD_MAX_COLS);
      goto fail;
    }
    if (grow(&cs->names, cs->n) || !(cs->names[cs->n] = dup_n(s, len))) goto oom;
    cs->n++;
    p += len;
    if (*p == ',') p++;
  }
  for (p = set; p && *p;) {
    const char *end = next_comma(p), *eq, *name, *expr;
    size_t nlen, elen;
    for (eq = p; eq < end && *eq != '='; eq++)
      if (*eq == '`') eq = skip_quoted(eq) - 1;
    if (eq >= end) {
      snprintf(why, whylen, "option --set: '%.*s' is not COLUMN = EXPRESSION", (int)(end - p), p);
      goto fail;
    }
    name = p;
    nlen = (size_t)(eq - p);
    trim(&name, &nlen);
    if (nlen >= 2 && name[0] == '`' && name[nlen - 1] == '`') {
      /* `a``b` is the column a`b */
      char *c = dup_n(name + 1, nlen - 2), *r, *w;
      if (!c) goto oom;
      for (r = w = c; *r; r++) {
        *w++ = *r;
        if (*r == '`' && r[1] == '`') r++;
      }
      *w = 0;
      if (grow(&cs->set_col, cs->nset)) {
        free(c);
        goto oom;
      }
      cs->set_col[cs->nset] = c;
    } else {
      if (grow(&cs->set_col, cs->nset) || !(cs->set_col[cs->nset] = dup_n(name, nlen))) goto oom;
    }
    expr = eq + 1;
    elen = (size_t)(end - expr);
    trim(&expr, &elen);
    if (!nlen || !elen) {
      free(cs->set_col[cs->nset]);
      snprintf(why, whylen, "option --set: '%.*s' is not COLUMN = EXPRESSION", (int)(end - p), p);
      goto fail;
    }
    if (grow(&cs->set_expr, cs->nset) || !(cs->set_expr[cs->nset] = dup_n(expr, elen))) {
      free(cs->set_col[cs->nset]);
      goto oom;
    }
    cs->nset++;
    p = *end ? end + 1 : end;
  }
  return 0;
oom:
  snprintf(why, whylen, "out of memory parsing --columns and --set");
fail:
  load_colspec_free(cs);
  return -1;
}

char *load_expr_placeholders(const load_colspec *cs, const char *expr, int **fields, int *nfields,
                             char *why, size_t whylen) {
  size_t n = strlen(expr), o = 0;
  char *out = malloc(n + 1);
  const char *s = expr;
  if (!out) goto oom;
  while (*s) {
    if (*s == '\'' || *s == '"' || *s == '`') {
      const char *e = skip_quoted(s);
      memcpy(out + o, s, (size_t)(e - s));
      o += (size_t)(e - s);
      s = e;
    } else if (s[0] == '@' && s[1] == '@') {
      /* a system variable: @@name, kept */
      out[o++] = *s++;
      out[o++] = *s++;
      while (var_char((unsigned char)*s)) out[o++] = *s++;
    } else if (s[0] == '@') {
      size_t len = 1;
      int i, *nf;
      while (var_char((unsigned char)s[len])) len++;
      for (i = 0; i < cs->n; i++)
        if (strlen(cs->names[i]) == len && !strncasecmp(cs->names[i], s, len)) break;
      if (len == 1 || i == cs->n) {
        snprintf(why, whylen, "option --set: %.*s is not a variable of --columns", (int)len, s);
        free(out);
        return NULL;
      }
      if (!(nf = realloc(*fields, (size_t)(*nfields + 1) * sizeof *nf))) goto oom;
      *fields = nf;
      nf[(*nfields)++] = i;
      out[o++] = '\001';
      s += len;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = 0;
  return out;
oom:
  free(out);
  snprintf(why, whylen, "out of memory");
  return NULL;
}
