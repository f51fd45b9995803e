/*
 * stmt.c — the statements of a job as text: split at the ';' between them,
 * the placeholder {chunk} found and replaced, in both cases only outside
 * string literals, quoted identifiers and comments (so that a '{chunk}' in
 * a string, or a ';' in a comment, is left as it is). Pure: unit tested.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PH "{chunk}"
#define PH_LEN 7

/* Where the text that starts at s[i] ends, if it is a literal, a quoted
 * identifier or a comment: the index after it (the end of s if it is
 * unterminated); i itself if it is none of these. */
static size_t skip_quoted(const char *s, size_t i) {
  char q = s[i];
  if (q == '\'' || q == '"' || q == '`') {
    for (i++; s[i]; i++) {
      if (q != '`' && s[i] == '\\' && s[i + 1]) {
        i++;
      } else if (s[i] == q) {
        if (s[i + 1] == q) {
          i++; /* a doubled quote */
          continue;
        }
        return i + 1;
      }
    }
    return i;
  }
  if (q == '#' || (q == '-' && s[i + 1] == '-' &&
                   (s[i + 2] == ' ' || s[i + 2] == '\t' || s[i + 2] == '\n' || s[i + 2] == '\r'))) {
    while (s[i] && s[i] != '\n') i++;
    return i;
  }
  if (q == '/' && s[i + 1] == '*') {
    const char *e = strstr(s + i + 2, "*/");
    return e ? (size_t)(e - s) + 2 : strlen(s);
  }
  return i;
}

static char *trimmed(const char *p, size_t n) {
  char *out;
  while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r')) n--;
  if (!(out = malloc(n + 1))) return NULL;
  memcpy(out, p, n);
  out[n] = 0;
  return out;
}

int exec_split(const char *sql, char **out, int max, char *why, size_t whylen) {
  size_t i = 0, start = 0;
  int n = 0;
  for (;;) {
    size_t j = skip_quoted(sql, i);
    if (j != i) {
      i = j;
      continue;
    }
    if (sql[i] == ';' || !sql[i]) {
      char *st = trimmed(sql + start, i - start);
      if (!st) goto nomem;
      if (*st) {
        if (n == max) {
          free(st);
          snprintf(why, whylen, "more than %d statements", max);
          goto fail;
        }
        out[n++] = st;
      } else {
        free(st);
      }
      if (!sql[i]) return n;
      start = i + 1;
    }
    i++;
  }
nomem:
  snprintf(why, whylen, "out of memory");
fail:
  while (n) free(out[--n]);
  return -1;
}

/* The next {chunk} at or after i outside quotes and comments, or NULL. */
static const char *next_ph(const char *s, size_t i) {
  while (s[i]) {
    size_t j = skip_quoted(s, i);
    if (j != i) {
      i = j;
      continue;
    }
    if (!strncmp(s + i, PH, PH_LEN)) return s + i;
    i++;
  }
  return NULL;
}

int exec_has_placeholder(const char *s) { return next_ph(s, 0) != NULL; }

char *exec_substitute(const char *s, const char *cond, size_t cond_len) {
  size_t n = 0, len = strlen(s), at = 0;
  const char *p;
  char *out, *o;
  for (p = next_ph(s, 0); p; p = next_ph(s, (size_t)(p - s) + PH_LEN)) n++;
  if (!(out = malloc(len + n * (cond_len + 2) + 1))) return NULL;
  o = out;
  for (p = next_ph(s, 0); p; p = next_ph(s, at)) {
    memcpy(o, s + at, (size_t)(p - s) - at);
    o += (size_t)(p - s) - at;
    *o++ = '(';
    memcpy(o, cond, cond_len);
    o += cond_len;
    *o++ = ')';
    at = (size_t)(p - s) + PH_LEN;
  }
  memcpy(o, s + at, len - at + 1);
  return out;
}
