/*
 * dsn.c — a replica's DSN in the Percona toolkit's form
 * (h=host,P=port,S=socket,u=user,p=password,F=option file), parsed by a
 * pure function (unit tested in tests/unit/test_exec_stmt.c). What is done
 * with it is replica.c's.
 */
#include "execint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies v[0, n) into dst (cap bytes); -1 if it does not fit. */
static int put(char *dst, size_t cap, const char *v, size_t n) {
  if (n >= cap) return -1;
  memcpy(dst, v, n);
  dst[n] = '\0';
  return 0;
}

int exec_dsn_parse(const char *s, exec_dsn *d, char *why, size_t whylen) {
  const char *p = s, *end, *eq;
  char seen[128] = {0};
  size_t o = 0;
  memset(d, 0, sizeof *d);
  if (!s || !*s) {
    snprintf(why, whylen, "empty DSN (give h=host,P=port or S=socket, and u=, p=, F=)");
    return -1;
  }
  while (*p) {
    size_t n, vn;
    const char *v;
    unsigned char k;
    int bad = 0;
    end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    n = (size_t)(end - p);
    eq = memchr(p, '=', n);
    if (!eq || eq != p + 1) {
      snprintf(why, whylen, "'%.*s' is not key=value with a one-letter key (h, P, S, u, p, F)",
               (int)(n > 60 ? 60 : n), p);
      return -1;
    }
    k = (unsigned char)p[0];
    v = eq + 1;
    vn = (size_t)(end - v);
    if (k < 128 && seen[k]) {
      snprintf(why, whylen, "key %c= is given twice", k);
      return -1;
    }
    if (k < 128) seen[k] = 1;
    switch (k) {
      case 'h': bad = put(d->host, sizeof d->host, v, vn); break;
      case 'S': bad = put(d->sock, sizeof d->sock, v, vn); break;
      case 'u': bad = put(d->user, sizeof d->user, v, vn), d->has_user = 1; break;
      case 'p': bad = put(d->pass, sizeof d->pass, v, vn), d->has_pass = 1; break;
      case 'F': bad = put(d->file, sizeof d->file, v, vn); break;
      case 'P': {
        char num[16], *e;
        unsigned long port;
        if (put(num, sizeof num, v, vn)) {
          bad = 1;
          break;
        }
        errno = 0;
        port = strtoul(num, &e, 10);
        if (!num[0] || *e || errno || num[0] == '-' || port < 1 || port > 65535) {
          snprintf(why, whylen, "P=%s is not a port number within 1 .. 65535", num);
          return -1;
        }
        d->port = (unsigned)port;
        break;
      }
      default: snprintf(why, whylen, "unknown key %c= (known: h, P, S, u, p, F)", k); return -1;
    }
    if (bad) {
      snprintf(why, whylen, "the value of %c= is too long", k);
      return -1;
    }
    if (vn == 0 && k != 'p') {
      snprintf(why, whylen, "%c= has no value", k);
      return -1;
    }
    /* The DSN as shown in messages: the password masked. */
    o += (size_t)snprintf(d->shown + o, sizeof d->shown - o, "%s%c=%.*s", o ? "," : "", k,
                          k == 'p' ? 3 : (int)vn, k == 'p' ? "***" : v);
    if (o >= sizeof d->shown) o = sizeof d->shown - 1;
    p = *end ? end + 1 : end;
  }
  if (!d->host[0] && !d->sock[0] && !d->port && !d->file[0]) {
    snprintf(why, whylen, "names no server: give h=host (and P=port), S=socket, or F=option file");
    return -1;
  }
  return 0;
}
