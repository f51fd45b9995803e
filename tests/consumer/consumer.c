/*
 * consumer.c — a program built against an *installed* dbfork, once through
 * find_package(dbfork) and once through pkg-config (tests/consumer/run.sh).
 * It needs no server: it only creates and frees a pool.
 */
#include <dbfork.h>
#include <stdio.h>
#include <string.h>

/* A program can test the header's version at compile time. */
#if !defined(DBFORK_VERSION_HEX) || DBFORK_VERSION_HEX < 0x010000
#error "dbfork.h 1.0 or later expected"
#endif

int main(void) {
  dbfork_options o;
  dbfork_pool *p = NULL;
  const char *msg;
  int rc;

  printf("dbfork %s\n", dbfork_version());
  {
    char hdr[32];
    snprintf(hdr, sizeof hdr, "%d.%d.%d", (DBFORK_VERSION_HEX >> 16) & 0xff,
             (DBFORK_VERSION_HEX >> 8) & 0xff, DBFORK_VERSION_HEX & 0xff);
    if (strcmp(hdr, dbfork_version()) != 0) {
      fprintf(stderr, "consumer: header %s, library %s\n", hdr, dbfork_version());
      return 1;
    }
  }
  msg = dbfork_strerror(DBFORK_EAGAIN);
  if (!msg || !*msg) {
    fprintf(stderr, "consumer: empty dbfork_strerror(DBFORK_EAGAIN)\n");
    return 1;
  }
  dbfork_options_init(&o);
  o.workers = 1;
  o.no_defaults = 1;
  rc = dbfork_pool_new(&p, &o);
  if (rc != 0 || !p) {
    fprintf(stderr, "consumer: dbfork_pool_new: %s (%s)\n", dbfork_err_name(rc),
            dbfork_strerror(rc));
    return 1;
  }
  dbfork_pool_free(p);
  dbfork_pool_free(NULL);
  printf("consumer ok: %s\n", msg);
  return 0;
}
