/*
 * hostile.h — a generator of hostile CSV for the differential test
 * (test_load_diff.c): a seed makes one case, a dialect (field and line
 * terminators of one or more bytes, an enclosure or none, an escape or
 * none or the enclosure itself) and a file of records whose fields are
 * random runs of the bytes that matter: the terminators and their
 * prefixes, quotes, escapes, \N and NULL, CR and LF (LF and CRLF mixed),
 * NUL, multi-byte UTF-8 and invalid sequences (lone lead and continuation
 * bytes, overlong forms, surrogates, 0xFF), with now and then a field too
 * many or too few, a quote left open, an escape before a terminator, a
 * value too long for its column.
 *
 * One case in five says the file is latin1 (every byte valid; values
 * converted to the columns' utf8mb4), the others utf8mb4. The first record
 * is a plain header (skipped), and the last is a plain
 * record with its terminator, so that no case depends on what the server
 * does with a last record that has none (dbfork's own tests cover that).
 *
 *   build/tests/load/test_load_diff print SEED   writes case SEED to stdout
 */
#ifndef DBFORK_HOSTILE_H
#define DBFORK_HOSTILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadtest.h"

typedef struct hc_case {
  uint64_t seed;
  /* the dialect, as bytes and as dbfork load's option strings */
  char ft[4], lt[4];
  int enc, esc; /* a byte, or -1 for none */
  char ft_opt[16], lt_opt[16], enc_opt[8], esc_opt[8];
  char eol[3];         /* the header's line end for a "\n" dialect */
  const char *charset; /* the file's: utf8mb4 (checked byte by byte), or latin1 */
  char *p;             /* the file */
  size_t len, cap;
  unsigned records;
} hc_case;

#define hc_rand lt_rand /* splitmix64, loadtest.h's */

static inline void hc_put(hc_case *c, const void *p, size_t n) {
  if (c->len + n + 1 > c->cap) {
    c->cap = (c->len + n + 1) * 2 + 256;
    c->p = realloc(c->p, c->cap);
    if (!c->p) abort();
  }
  memcpy(c->p + c->len, p, n);
  c->len += n;
  c->p[c->len] = 0;
}
static inline void hc_puts(hc_case *c, const char *s) { hc_put(c, s, strlen(s)); }
static inline void hc_byte(hc_case *c, int b) {
  char ch = (char)b;
  hc_put(c, &ch, 1);
}

/* A dbfork option string for bytes p[0, n): \t \r \n \\ \0 escaped. */
static inline void hc_opt(char *out, const char *p, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    char ch = p[i];
    if (ch == '\t' || ch == '\r' || ch == '\n' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = ch == '\t' ? 't' : ch == '\r' ? 'r' : ch == '\n' ? 'n' : '\\';
    } else {
      out[o++] = ch;
    }
  }
  out[o] = 0;
}

/* One piece of a field. */
static inline void hc_piece(hc_case *c, uint64_t *s) {
  static const char *const text[] = {"a",
                                     "bc",
                                     " ",
                                     "N",
                                     "NULL",
                                     "x y",
                                     "0",
                                     "\xc3\xa9" /* é */,
                                     "\xe2\x82\xac" /* € */,
                                     "\xf0\x9f\x98\x80" /* U+1F600 */};
  static const char *const invalid[] = {"\xe9",         "\xc3",     "\x80",
                                        "\xff",         "\xf0\x9f", "\xc0\x80",
                                        "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80"};
  unsigned r = (unsigned)(hc_rand(s) % 100);
  if (r < 30) {
    hc_puts(c, text[hc_rand(s) % (sizeof text / sizeof text[0])]);
  } else if (r < 40) {
    hc_put(c, c->ft, strlen(c->ft) - (hc_rand(s) % 3 == 0 && strlen(c->ft) > 1)); /* or a prefix */
  } else if (r < 48) {
    hc_put(c, c->lt, strlen(c->lt) - (hc_rand(s) % 3 == 0 && strlen(c->lt) > 1));
  } else if (r < 56) {
    if (c->enc >= 0) hc_byte(c, c->enc);
  } else if (r < 64) {
    if (c->esc >= 0) {
      hc_byte(c, c->esc);
      hc_byte(c, "nNtr0Z\\\"x,"[hc_rand(s) % 10]);
    }
  } else if (r < 70) {
    hc_puts(c, hc_rand(s) % 2 ? "\r" : "\n");
  } else if (r < 74) {
    hc_puts(c, hc_rand(s) % 2 ? "\r\n" : "\t");
  } else if (r < 77) {
    hc_byte(c, 0);
  } else if (r < 85) {
    hc_puts(c, invalid[hc_rand(s) % (sizeof invalid / sizeof invalid[0])]);
  } else if (r < 88) {
    if (c->esc >= 0) hc_byte(c, c->esc); /* a lone escape: before whatever comes next */
  } else {
    hc_puts(c, "plain");
  }
}

/* One field: a few pieces, now and then enclosed (with the enclosure
 * doubled inside or not), or \N / NULL. */
static inline void hc_field(hc_case *c, uint64_t *s) {
  unsigned r = (unsigned)(hc_rand(s) % 100), n, k;
  if (r < 5 && c->esc >= 0) {
    hc_byte(c, c->esc);
    hc_byte(c, 'N');
    return;
  }
  if (r < 8) {
    hc_puts(c, "NULL");
    return;
  }
  n = (unsigned)(hc_rand(s) % (r < 12 ? 14 : 4)); /* some too long for VARCHAR(12) */
  if (c->enc >= 0 && r >= 60) {
    hc_byte(c, c->enc);
    for (k = 0; k < n; k++) {
      size_t at = c->len;
      hc_piece(c, s);
      if (r < 90 && c->len > at && c->p[c->len - 1] == (char)c->enc) hc_byte(c, c->enc);
    }
    if (r < 97) hc_byte(c, c->enc); /* else left open */
    return;
  }
  for (k = 0; k < n; k++) hc_piece(c, s);
}

static inline void hc_eol(hc_case *c, uint64_t *s) {
  if (!strcmp(c->lt, "\n") && hc_rand(s) % 4 == 0)
    hc_puts(c, hc_rand(s) % 2 ? "\r\n" : "\n"); /* LF and CRLF mixed */
  else
    hc_puts(c, !strcmp(c->lt, "\n") ? c->eol : c->lt);
}

/* A plain record of three fields `word`, terminated. */
static inline void hc_plain(hc_case *c, const char *word) {
  int f;
  for (f = 0; f < 3; f++) {
    if (f) hc_puts(c, c->ft);
    hc_puts(c, word);
  }
  hc_puts(c, !strcmp(c->lt, "\n") ? c->eol : c->lt);
}

/* Case `seed`: the dialect and `records` records (header and last
 * included). */
static inline void hc_generate(hc_case *c, uint64_t seed, unsigned records) {
  static const char *const fts[] = {",", "\t", ";", "||", ",;", "|"};
  static const char *const lts[] = {"\n", "\n", "\r\n", "|\n", "~~", "\n"};
  static const int encs[] = {'"', '"', '\'', -1, '"', '"'};
  static const int escs[] = {'\\', -1, '\\', '\\', '"', '\\'};
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
  unsigned i, f;
  memset(c, 0, sizeof *c);
  c->seed = seed;
  snprintf(c->ft, sizeof c->ft, "%s", fts[hc_rand(&s) % 6]);
  snprintf(c->lt, sizeof c->lt, "%s", lts[hc_rand(&s) % 6]);
  if (strchr(c->lt, c->ft[0]) && !strcmp(c->ft, "|")) snprintf(c->ft, sizeof c->ft, ",");
  c->enc = encs[hc_rand(&s) % 6];
  c->esc = escs[hc_rand(&s) % 6];
  if (c->esc == '"' && c->enc != '"') c->esc = '\\';
  snprintf(c->eol, sizeof c->eol, "%s", hc_rand(&s) % 3 ? "\n" : "\r\n");
  c->charset = hc_rand(&s) % 5 ? "utf8mb4" : "latin1";
  hc_opt(c->ft_opt, c->ft, strlen(c->ft));
  hc_opt(c->lt_opt, c->lt, strlen(c->lt));
  if (c->enc >= 0) {
    char b = (char)c->enc;
    hc_opt(c->enc_opt, &b, 1);
  }
  if (c->esc >= 0) {
    char b = (char)c->esc;
    hc_opt(c->esc_opt, &b, 1);
  }
  hc_plain(c, "h"); /* the header */
  for (i = 1; i + 1 < records; i++) {
    unsigned nf = 3, r = (unsigned)(hc_rand(&s) % 100);
    if (r < 4) nf = 2;
    if (r >= 96) nf = 4;
    for (f = 0; f < nf; f++) {
      if (f) hc_puts(c, c->ft);
      hc_field(c, &s);
    }
    hc_eol(c, &s);
  }
  hc_plain(c, "end"); /* the last record, plain and terminated */
  c->records = records;
}

static inline void hc_free(hc_case *c) {
  free(c->p);
  c->p = NULL;
}

#endif
